import { Inject, Injectable } from '@nestjs/common';
import type { Resource } from 'fhir/r4';
import type { Queryable } from '../database/database';
import { FhirDefinitions } from '../fhir/definitions/definitions.module';
import { FhirError, notFound } from '../fhir/errors';
import { applyResourcePatch, readPatch } from '../fhir/patch/resource-patch';
import { OperationLevel, OperationRegistry } from '../fhir/operations/operation-registry';
import { BASE_URL } from '../fhir/rest/rest.tokens';
import { SearchRestriction, SearchService } from '../fhir/search/search.service';
import { StorageService } from '../fhir/storage/storage.service';
import type { StoredVersion } from '../fhir/storage/storage.types';
import type { AuthContext } from './auth-context';
import { CompartmentChecker } from './compartment';
import { deletedWithin, refuseRecreate } from './deleted-resources';
import { bodyAllowed, criteriaFor, ruleBound, searchRestriction } from './scope-policy';
import { INTERACTION_WORDS, Interaction } from './scopes';
import { BinaryAccess } from './binary-access';

/** One FHIR request as the policy sees it: over HTTP or as a (parsed) batch/transaction entry. */
export interface FhirRequest {
  method: string;
  /** path below the FHIR base, e.g. `Patient/123/_history` (no query) */
  path: string;
  query: [string, string][];
  /**
   * The pairs of an `application/x-www-form-urlencoded` body, read by the same function the
   * search reads them with (`formBodyPairs`: strict, a malformed escape is a 400), so a
   * `POST …/_search` is authorized on exactly the parameters it executes; read only when needed.
   */
  form?: () => [string, string][];
  body?: unknown;
  /** If-None-Exist (conditional create) */
  ifNoneExist?: string;
  /** X-Security-Context of a raw Binary upload */
  securityContext?: string;
}

/** More versions than this in one resource's history are not checked one by one: refused for restricted tokens. */
const MAX_CHECKED_VERSIONS = 1000;
/** Operations that read no stored data beyond the instance they are called on. */
const DATA_FREE_OPERATIONS = new Set(['validate']);
/**
 * Types served from their own store by a module that applies the token's
 * scopes itself (the audit trail: `auditAccess`): only the interaction is
 * checked here.
 */
const SELF_GUARDED_TYPES = new Set(['AuditEvent']);

const forbidden = (msg: string) => FhirError.of(403, 'forbidden', msg);

/**
 * The SMART scope policy applied to a FHIR request before it runs: the
 * interaction (c r u d s) on the type, then, for tokens bounded by a patient
 * compartment or a granular filter, the instance in SQL (the same
 * SearchRestriction search applies) and request bodies in memory.
 *
 * Instances the token may not see answer 404 exactly like unknown ones;
 * types or interactions the scopes do not grant answer 403 without looking
 * at any data. Searches are bounded by `searchRestriction(ctx.auth)` inside
 * the search engine; this class only decides whether they may run.
 * Batch/transaction entries are checked by the bundle processor through
 * `ScopedEntryAccess`, on the entries as parsed; conditional interactions
 * search and write through the same access (`conditionRestriction`, `content`).
 */
@Injectable()
export class RequestAuthorizer {
  readonly compartments: CompartmentChecker;
  private readonly binaries: BinaryAccess;

  constructor(
    @Inject(BASE_URL) private readonly baseUrl: string,
    private readonly definitions: FhirDefinitions,
    private readonly search: SearchService,
    private readonly storage: StorageService,
    private readonly operations: OperationRegistry,
  ) {
    this.compartments = new CompartmentChecker(definitions.data, baseUrl);
    this.binaries = new BinaryAccess(storage, definitions, this.compartments, {
      criteria: (auth, type, interaction) => this.criteria(auth, type, interaction),
      visible: (type, id, criteria) => this.visible(type, id, criteria),
    });
  }

  async authorize(auth: AuthContext, r: FhirRequest): Promise<void> {
    if (auth.admin) return;
    const method = r.method === 'HEAD' ? 'GET' : r.method;
    const seg = r.path.split('/').filter(Boolean).map(decodeURIComponent);
    const [a, b, c, d] = seg;
    if (!a) {
      if (method === 'GET') return this.systemSearch(auth, r.query);
      // POST [base] (batch/transaction): BundleService checks each parsed entry through ScopedEntryAccess
      return;
    }
    if (a === 'metadata') return;
    if (a === '_history' && seg.length === 1) return this.systemHistory(auth, r.query);
    if (a === '_search' && seg.length === 1) return this.systemSearch(auth, searched(r));
    if (a.startsWith('$')) return this.operation(auth, method, 'system', a);
    if (!this.definitions.isResourceType(a)) return; // the controller answers 404
    if (a === 'Binary' && !(b ?? '').startsWith('$') && b !== '_search' && b !== '_history') {
      // an operation on a Binary or a version of it that changes nothing ($meta, GET or POST) reads it;
      // one that changes it ($meta-add, $meta-delete) updates it, where it is (its body is no Binary)
      const op = seg[seg.length - 1].startsWith('$') && this.operations.find(seg[seg.length - 1].slice(1), 'instance', a);
      if (op && op.affectsState) return this.binaries.request(auth, 'PUT', seg, { ...r, securityContext: undefined, body: undefined });
      return this.binaries.request(auth, op ? 'GET' : method, seg, r);
    }
    const type = a;
    if (seg.length === 1) {
      if (method === 'GET') return void this.criteria(auth, type, 's');
      if (method === 'POST') return this.create(auth, type, r.body, r.ifNoneExist);
      if (method === 'PUT') return this.conditional(auth, type, 'u', r.body);
      if (method === 'PATCH') return this.conditional(auth, type, 'u');
      if (method === 'DELETE') return this.conditional(auth, type, 'd');
      return;
    }
    if (b === '_history' && seg.length === 2) return this.typeHistory(auth, type);
    if (b === '_search' && seg.length === 2) return void this.criteria(auth, type, 's');
    if (b.startsWith('$')) return this.operation(auth, method, 'type', b, type);
    const id = b;
    if (seg.length === 2) {
      if (method === 'GET') return this.instance(auth, type, id, 'r');
      if (method === 'PUT') return this.update(auth, type, id, r.body);
      if (method === 'PATCH') return this.patch(auth, type, id, r.body);
      if (method === 'DELETE') return this.instance(auth, type, id, 'd');
      return;
    }
    if (c === '_history') {
      if (seg.length === 3 && method === 'GET') return this.instanceHistory(auth, type, id);
      if (seg.length === 4 && method === 'GET') return this.vread(auth, type, id, d);
      // an operation on that version ($meta, GET or POST; those that write answer 405): like the vread
      if (seg.length === 5 && seg[4].startsWith('$')) return this.vread(auth, type, id, d);
      return;
    }
    if (c.startsWith('$')) return this.operation(auth, method, 'instance', c, type, id);
    // compartment search (Patient/123/Observation, by GET or POST …/_search; Patient/123/* like a system
    // search): the search restriction bounds the results
    if (seg.length === 3 && c === '*') return this.systemSearch(auth, r.query);
    if (seg.length === 4 && c === '*' && d === '_search') return this.systemSearch(auth, searched(r));
    if ((seg.length === 3 || (seg.length === 4 && d === '_search')) && this.definitions.isResourceType(c)) return void this.criteria(auth, c, 's');
  }

  /** Criteria for an interaction on a type; 403 when the scopes do not grant it at all. */
  criteria(auth: AuthContext, type: string, interaction: Interaction): [string, string][][] {
    const c = criteriaFor(auth, type, [interaction], this.compartments);
    if (c === false) throw forbidden(`the token's scopes do not allow ${INTERACTION_WORDS[interaction]} on ${type}`);
    return c;
  }

  /** Unrestricted access needed (what cannot be bounded in SQL: history, state-changing type operations). */
  private unrestricted(auth: AuthContext, type: string, interaction: Interaction, what: string): void {
    if (this.criteria(auth, type, interaction).length) {
      throw forbidden(`${what} on ${type} needs scopes that are not limited to a patient or a filter`);
    }
  }

  /** 404 unless the resource exists and is within the criteria (one SQL query through the search engine). */
  private async visible(type: string, id: string, criteria: [string, string][][]): Promise<void> {
    const matches = await this.search.findMatches(type, [['_id', id]], {
      limit: 1,
      restriction: { criteriaFor: (t) => (t === type ? criteria : false) },
    });
    if (!matches.length) throw notFound(`${type}/${id} is not known`);
  }

  /** `visible`, or deleted with its last version within the token's scopes: the interaction answers 410 (deleted-resources.ts). */
  private async visibleOrGone(auth: AuthContext, type: string, id: string, criteria: [string, string][][], interaction: Interaction) {
    await this.visible(type, id, criteria).catch(async (err) => {
      if (!(await deletedWithin(this.storage, this.compartments, auth, type, id, interaction))) throw err;
    });
  }

  private async instance(auth: AuthContext, type: string, id: string, interaction: Interaction): Promise<void> {
    const c = this.criteria(auth, type, interaction);
    if (c.length && !SELF_GUARDED_TYPES.has(type)) await this.visibleOrGone(auth, type, id, c, interaction);
  }

  private async create(auth: AuthContext, type: string, body: unknown, ifNoneExist?: string): Promise<void> {
    const c = this.criteria(auth, type, 'c');
    // If-None-Exist is a search whose match is answered (200 with the resource): it needs search permission
    if (ifNoneExist && criteriaFor(auth, type, ['s'], this.compartments) === false) {
      throw forbidden(`conditional create (If-None-Exist) on ${type} needs a scope that allows search on ${type}`);
    }
    if (!c.length) return;
    if (!isResource(body, type)) return; // the controller answers 400
    if (!bodyAllowed(auth, body, 'c', this.compartments)) {
      throw forbidden(`the token's scopes do not allow creating this ${type} (outside the permitted patient or filter)`);
    }
  }

  private async update(auth: AuthContext, type: string, id: string, body: unknown): Promise<void> {
    const c = this.criteria(auth, type, 'u');
    if (!c.length) return;
    const current = await this.storage.readCurrent(type, id);
    if (current && !current.deleted) await this.visible(type, id, c);
    else if (current) await refuseRecreate(this.storage, this.compartments, auth, type, id, 'u');
    if (!isResource(body, type)) return;
    if (!bodyAllowed(auth, body, 'u', this.compartments)) {
      throw forbidden(`the token's scopes do not allow this content for ${type}/${id}`);
    }
  }

  private async patch(auth: AuthContext, type: string, id: string, body: unknown): Promise<void> {
    const c = this.criteria(auth, type, 'u');
    if (!c.length) return;
    await this.visibleOrGone(auth, type, id, c, 'u');
    const current = await this.storage.readCurrent(type, id);
    if (!current?.content) return; // deleted: the interaction answers 410
    let patched: Resource;
    try {
      patched = applyResourcePatch(JSON.parse(current.content), readPatch(body));
    } catch {
      return; // a malformed patch or one that does not apply: the interaction answers 400 or 422 and writes nothing
    }
    if (!bodyAllowed(auth, patched, 'u', this.compartments)) {
      throw forbidden(`the token's scopes do not allow this change to ${type}/${id}`);
    }
  }

  /**
   * Conditional update/patch/delete: the interaction on the type here; the
   * condition's search is bounded by `conditionRestriction` and what is
   * written is checked by `content` (TransactionEngine, inside its transaction).
   * An update body outside the scopes is refused before anything runs.
   */
  private async conditional(auth: AuthContext, type: string, interaction: Interaction, body?: unknown): Promise<void> {
    const c = this.criteria(auth, type, interaction);
    if (c.length && isResource(body, type) && !bodyAllowed(auth, body, 'u', this.compartments)) {
      throw forbidden(`the token's scopes do not allow this content for ${type}`);
    }
  }

  /**
   * What the search of a condition may match: for If-None-Exist what the
   * token may read and search; for conditional update/patch/delete what it
   * may update/delete by id (the same criteria as the plain interaction).
   * Chained and `_has` types stay bounded by the token's search restriction.
   */
  conditionRestriction(auth: AuthContext, type: string, method: string): SearchRestriction | undefined {
    const base = this.restriction(auth);
    if (!base || method === 'POST') return base;
    const own = criteriaFor(auth, type, [method === 'DELETE' ? 'd' : 'u'], this.compartments);
    return { criteriaFor: (t) => (t === type ? own : base.criteriaFor(t)) };
  }

  /**
   * The content a bundle entry or conditional interaction is about to write
   * (new resource, update body, patch result, references resolved): inside
   * the token's compartment and filters, like a plain create/update; a
   * Binary follows its securityContext. A deleted resource is not re-created
   * by a bounded token (as for a plain update).
   */
  async content(auth: AuthContext, method: string, resource: Resource, current: StoredVersion | undefined, q?: Queryable): Promise<void> {
    const interaction: Interaction = method === 'POST' ? 'c' : 'u';
    const type = resource.resourceType;
    if (type === 'Binary') {
      const own = criteriaFor(auth, 'Binary', [interaction], this.compartments);
      if (own !== false && own.length === 0) return;
      const context = (resource as { securityContext?: { reference?: string } }).securityContext?.reference;
      if (!context) throw forbidden(`the token's scopes do not allow ${INTERACTION_WORDS[interaction]} on Binary without a securityContext`);
      return this.binaries.target(auth, context, interaction);
    }
    if (!this.criteria(auth, type, interaction).length) return;
    if (current?.deleted) await refuseRecreate(this.storage, this.compartments, auth, type, current.id, interaction, q);
    if (!this.contentAllowed(auth, resource, interaction)) {
      throw forbidden(`the token's scopes do not allow this content for ${type}${resource.id ? `/${resource.id}` : ''}`);
    }
  }

  /** May the token write this content (create `c`, update `u`): its type's scopes, and the compartment and filters they are bounded by. */
  contentAllowed(auth: AuthContext, resource: Resource, interaction: Interaction): boolean {
    const c = criteriaFor(auth, resource.resourceType, [interaction], this.compartments);
    return c !== false && (!c.length || bodyAllowed(auth, resource, interaction, this.compartments));
  }

  private async vread(auth: AuthContext, type: string, id: string, vid: string): Promise<void> {
    const c = this.criteria(auth, type, 'r');
    if (!c.length || SELF_GUARDED_TYPES.has(type)) return;
    await this.visibleOrGone(auth, type, id, c, 'r');
    const v = /^[0-9]+$/.test(vid) ? await this.storage.resources.readVersion(this.storage.db, type, id, Number(vid)) : undefined;
    // an older version may have belonged to another patient
    if (v?.content && !bodyAllowed(auth, JSON.parse(v.content), 'r', this.compartments)) {
      throw notFound(`${type}/${id}/_history/${vid} is not known`);
    }
  }

  private async instanceHistory(auth: AuthContext, type: string, id: string): Promise<void> {
    const c = this.criteria(auth, type, 'r');
    if (!c.length) return;
    await this.visibleOrGone(auth, type, id, c, 'r');
    const versions = await this.storage.historyPage({ resourceType: type, id, count: MAX_CHECKED_VERSIONS });
    if (versions.length > MAX_CHECKED_VERSIONS) throw forbidden(`${type}/${id} has too many versions to check against the token scopes`);
    for (const v of versions) {
      if (v.content && !bodyAllowed(auth, JSON.parse(v.content), 'r', this.compartments)) {
        throw forbidden(`the history of ${type}/${id} includes versions outside the token's scopes`);
      }
    }
  }

  /**
   * Type and system history: only unbounded scopes. The search index (and
   * with it compartment membership and filter values) holds current
   * versions only, so no SQL predicate can tell whether an older version
   * or a delete belonged to the token's patient; filtering pages afterwards
   * is what the design rules out (and would still show versions of a
   * resource that moved between patients).
   */
  private async typeHistory(auth: AuthContext, type: string): Promise<void> {
    this.unrestricted(auth, type, 's', 'history (older versions are not indexed by compartment)');
  }

  private async systemHistory(auth: AuthContext, query: [string, string][]): Promise<void> {
    const what = 'system history (older versions are not indexed by compartment)';
    const listed = listedTypes(query);
    if (listed) {
      for (const t of listed) if (this.definitions.isResourceType(t)) this.unrestricted(auth, t, 's', what);
      return;
    }
    // without _type every type is asked for: name none in particular (not the first one alphabetically)
    const blocked = this.definitions.resourceTypes.some((t) => {
      const c = criteriaFor(auth, t, ['s'], this.compartments);
      return c === false || c.length > 0;
    });
    if (blocked) throw forbidden(`${what} without _type needs search scopes on every type, not limited to a patient or a filter`);
  }

  private async systemSearch(auth: AuthContext, query: [string, string][]): Promise<void> {
    const types = listedTypes(query);
    if (types) {
      for (const t of types) if (this.definitions.isResourceType(t)) this.criteria(auth, t, 's');
    } else if (!auth.rules.some((r) => r.interactions.has('s'))) {
      throw forbidden(`the token's scopes do not allow search`);
    }
  }

  private async operation(auth: AuthContext, method: string, level: OperationLevel, segment: string, type?: string, id?: string) {
    const name = segment.slice(1);
    const op = this.operations.find(name, level, type);
    if (!op) return; // the controller answers 404
    if (DATA_FREE_OPERATIONS.has(name) && level !== 'instance') return;
    const changes = op.affectsState && method !== 'GET';
    if (level === 'instance') return this.instance(auth, type!, id!, changes ? 'u' : 'r');
    if (level === 'type') {
      if (changes) return this.unrestricted(auth, type!, 'u', `$${name}`);
      return void this.criteria(auth, type!, 's');
    }
    // system level: the operation bounds what it reads by the token's scopes (searchRestriction, exportScopes);
    // patient-bounded tokens never run one
    if (changes) throw forbidden(`$${name} needs an admin token (admin role and user/*.cruds granted)`);
    if (!auth.rules.some((r) => ruleBound(auth, r) === null)) {
      throw forbidden(`$${name} needs system or practitioner user scopes`);
    }
  }

  /** The SearchRestriction for this token (search engine, operations). */
  restriction(auth: AuthContext | undefined) {
    return searchRestriction(auth, this.compartments);
  }
}

function isResource(body: unknown, type: string): body is Resource {
  return !!body && typeof body === 'object' && !Array.isArray(body) && (body as Resource).resourceType === type;
}

/** `_type=A,B` (repeats allowed); undefined when absent. */
function listedTypes(query: [string, string][]): string[] | undefined {
  const values = query.filter(([k]) => k === '_type').flatMap(([, v]) => v.split(','));
  return values.length ? values.map((t) => t.trim()).filter(Boolean) : undefined;
}

/** The parameters a `POST …/_search` executes: the query string, then the form body (as the FHIR controller's `formAndQuery`). */
function searched(r: FhirRequest): [string, string][] {
  return [...r.query, ...(r.form?.() ?? [])];
}

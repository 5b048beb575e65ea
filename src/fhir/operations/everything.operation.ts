import { Inject, Injectable } from '@nestjs/common';
import type { BundleLink, OperationDefinition } from 'fhir/r4';
import { RequestAuthorizer } from '../../auth/request-authorizer';
import { Database } from '../../database/database';
import { bundleJson, EntryJson } from '../bundle-json';
import { parseDateRange } from '../date-range';
import { FhirDefinitions } from '../definitions/definitions.module';
import { badRequest, FhirError } from '../errors';
import type { FhirResponse } from '../rest/fhir-response';
import type { RequestContext } from '../rest/request-context';
import { SearchService, SearchRestriction } from '../search/search.service';
import { StorageService } from '../storage/storage.service';
import type { StoredVersion } from '../storage/storage.types';
import type { ResourceRow } from '../search/search-sql';
import { decodeRecordCursor, encodeRecordCursor, RecordCursor, RecordPage, RecordPager, RecordWalk } from './everything-pager';
import { inputPairs } from './operation-inputs';
import type { FhirOperation, OperationCall } from './operation-registry';
import { READ_ONLY_TYPES } from '../rest/allowed-methods';
import { compartmentRestriction, referencesIn } from './patient-compartment';

/** Resources outside the compartment that $everything adds when a compartment resource refers to them. */
const REFERENCED_TYPES = ['Practitioner', 'Organization', 'Location', 'Medication'];

/** The inputs and output every `$everything` (Patient-, Encounter-everything) has. */
export const RECORD_PARAMETERS: NonNullable<OperationDefinition['parameter']> = [
  { name: '_since', use: 'in', min: 0, max: '1', type: 'instant' },
  { name: '_type', use: 'in', min: 0, max: '*', type: 'code' },
  { name: '_count', use: 'in', min: 0, max: '1', type: 'integer' },
  { name: 'return', use: 'out', min: 1, max: '1', type: 'Bundle' },
];

/** What one `$everything` returns: the record of a compartment's focal resource. */
export interface RecordKind {
  /** the compartment (CompartmentDefinition.code), also the type the operation is invoked on */
  compartment: string;
  /** types added (`search.mode = include`) when a record resource refers to one of them; `*` any type */
  referenced: string[];
  /** `start`/`end` over care dates (Patient-everything's inputs only) */
  careDates: boolean;
}
const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;
const MAX_PATIENTS = 1000;

interface Ref {
  resourceType: string;
  id: string;
}

interface EverythingQuery {
  start?: Date;
  end?: Date;
  since?: string;
  types?: string[];
  count: number;
  /** the opaque page position of a `next`/`previous` link */
  cursor?: string;
  /** `_total=accurate`: count the whole record on every page */
  total: boolean;
}

/**
 * `Patient/$everything` (patient-operation-everything.html, R4): the Patient
 * and every resource in its compartment (CompartmentDefinition-patient, as
 * the search index records it), plus the Practitioners, Organizations,
 * Locations and Medications those resources refer to. Instance level for one
 * patient, type level for every patient the token may see. `start`/`end`
 * bound care dates (the type's `date` search parameter; types without one
 * are not filtered), `_since` bounds `meta.lastUpdated`, `_type` the types;
 * `_count` pages the compartment matches (Patients first, then by type and
 * id) with keyset cursors (RecordPager), each page adding the referenced
 * resources (`search.mode = include`). Everything read goes through the
 * search engine under the token's SearchRestriction.
 */
@Injectable()
export class EverythingOperation implements FhirOperation {
  protected readonly kind: RecordKind = { compartment: 'Patient', referenced: REFERENCED_TYPES, careDates: true };
  readonly name = 'everything';
  readonly levels: FhirOperation['levels'] = ['type', 'instance'];
  readonly resourceTypes = ['Patient'];
  readonly affectsState = false;
  readonly definition: OperationDefinition = {
    resourceType: 'OperationDefinition',
    id: 'Patient-everything',
    url: 'http://hl7.org/fhir/OperationDefinition/Patient-everything',
    name: 'Fetch Patient Record',
    status: 'active',
    kind: 'operation',
    code: 'everything',
    resource: ['Patient'],
    system: false,
    type: true,
    instance: true,
    parameter: [
      { name: 'start', use: 'in', min: 0, max: '1', type: 'date' },
      { name: 'end', use: 'in', min: 0, max: '1', type: 'date' },
      ...RECORD_PARAMETERS,
    ],
  };
  private readonly pager: RecordPager;

  constructor(
    private readonly db: Database,
    private readonly storage: StorageService,
    private readonly search: SearchService,
    private readonly definitions: FhirDefinitions,
    @Inject(RequestAuthorizer) private readonly authorizer: RequestAuthorizer,
  ) {
    this.pager = new RecordPager(db, search);
  }

  async invoke(call: OperationCall): Promise<FhirResponse> {
    const params = inputPairs(call, '$everything');
    const q = this.parse(params);
    const token = this.authorizer.restriction(call.ctx.auth);
    const focal = this.kind.compartment;
    if (call.id) await this.storage.read(focal, call.id); // 404 / 410 for an unknown or deleted patient (encounter)
    const patients = call.id ? [call.id] : await this.allPatients(token);
    const walk = this.walk(patients, q, token);
    const cursor = q.cursor ? decodeRecordCursor(q.cursor, walk.types) : undefined;
    const page: RecordPage = !patients.length
      ? { rows: [], more: false }
      : cursor?.direction === 'p'
        ? await this.pager.backward(walk, q.count, cursor)
        : await this.pager.forward(walk, q.count, cursor);
    const rows = page.rows;
    const included = await this.referenced(rows, q, token, call.ctx.baseUrl);
    const entry: EntryJson[] = [
      ...rows.map((r) => this.entry(call.ctx, r.resource_type, r.id, r.content, 'match')),
      ...included.map((r) => this.entry(call.ctx, r.resourceType, r.id, r.content!, 'include')),
    ];
    // the total is free when the first page holds everything; counting the whole record is asked for
    let total: number | undefined;
    if (q.total) total = patients.length ? await this.count(call.ctx, walk) : 0;
    else if (!cursor && !page.more) total = rows.length;
    const path = call.id ? `${focal}/${call.id}/$everything` : `${focal}/$everything`;
    return { status: 200, body: bundleJson({ type: 'searchset', total, link: this.links(call, params, path, cursor, page), entry }) };
  }

  private parse(params: [string, string][]): EverythingQuery {
    const q: EverythingQuery = { count: DEFAULT_COUNT, total: false };
    for (const [name, value] of params) {
      switch (name) {
        case 'start':
        case 'end': {
          if (!this.kind.careDates) throw badRequest(`unsupported $everything parameter "${name}"`);
          const range = parseDateRange(value);
          if (!range) throw badRequest(`${name} "${value}" is not a date`);
          if (name === 'start') q.start = range.low;
          else q.end = range.high;
          break;
        }
        case '_since': {
          const range = parseDateRange(value);
          if (!range) throw badRequest(`_since "${value}" is not an instant`);
          q.since = range.low.toISOString();
          break;
        }
        case '_type':
          q.types = [...(q.types ?? []), ...value.split(',').map((t) => t.trim()).filter(Boolean)];
          for (const t of q.types) if (!this.definitions.isResourceType(t)) throw badRequest(`_type "${t}" is not a resource type`);
          break;
        case '_count':
          if (!/^[0-9]+$/.test(value)) throw badRequest('_count must be a non-negative integer');
          q.count = Math.min(Math.max(Number(value), 1), MAX_COUNT);
          break;
        case '_cursor':
          q.cursor = value;
          break;
        case '_total':
          if (!['none', 'estimate', 'accurate'].includes(value)) throw badRequest('_total must be none, estimate or accurate');
          q.total = value === 'accurate';
          break;
        case '_format':
        case '_pretty':
          break;
        default:
          throw badRequest(`unsupported $everything parameter "${name}"`);
      }
    }
    return q;
  }

  /** Type level: the patients the token may see (bounded; larger populations are what Bulk Data export is for). */
  private async allPatients(token: SearchRestriction | undefined): Promise<string[]> {
    const matches = await this.search.findMatches('Patient', [], { limit: MAX_PATIENTS + 1, restriction: token });
    if (matches.length > MAX_PATIENTS) throw tooCostly(`more than ${MAX_PATIENTS} patients: use Patient/$export`);
    return matches.map((m) => m.id);
  }

  /** The record's types in page order (the focal resources first, then by type) and each type's criteria. */
  private walk(focals: string[], q: EverythingQuery, token: SearchRestriction | undefined): RecordWalk {
    const focal = this.kind.compartment;
    const compartment = this.definitions.data.compartments[focal] ?? {};
    const restriction = compartmentRestriction(focals, token, focal);
    // the record as the token may read it: a type its scopes leave out is not part of the answer (not a 403 naming it)
    const types = [focal, ...Object.keys(compartment).filter((t) => t !== focal && compartment[t].length).sort()].filter(
      (t) => (!q.types || q.types.includes(t)) && restriction.criteriaFor(t) !== false,
    );
    return {
      types,
      restriction,
      criteriaOf: (type) => {
        const params: [string, string][] = [];
        if (q.since) params.push(['_lastUpdated', `ge${q.since}`]);
        if (type !== focal && this.kind.careDates && this.hasCareDate(type)) {
          if (q.start) params.push(['date', `ge${q.start.toISOString()}`]);
          if (q.end) params.push(['date', `le${q.end.toISOString()}`]);
        }
        return params;
      },
    };
  }

  private hasCareDate(type: string): boolean {
    return this.definitions.searchParametersOf(type).some((sp) => sp.code === 'date' && sp.type === 'date');
  }

  /** `_total=accurate`: the size of the whole record, one count per type. */
  private async count(ctx: RequestContext, walk: RecordWalk): Promise<number> {
    let n = 0;
    for (const type of walk.types) {
      const r = await this.search.search(ctx, { resourceType: type, params: [...walk.criteriaOf(type), ['_summary', 'count']], restriction: walk.restriction });
      n += (typeof r.body === 'string' ? JSON.parse(r.body) : (r.body as { total?: number })).total ?? 0;
    }
    return n;
  }

  /** The stored JSON of these resources, in the given order. */
  private async contents(refs: Ref[]): Promise<StoredVersion[]> {
    const rows = await this.storage.resources.readMany(this.db, refs);
    const byKey = new Map(rows.map((r) => [`${r.resourceType}/${r.id}`, r]));
    return refs.map((r) => byKey.get(`${r.resourceType}/${r.id}`)).filter((r): r is StoredVersion => !!r);
  }

  /** The resources of the referenced types (Practitioners, Organizations, …) the page refers to, as the token allows. */
  private async referenced(rows: ResourceRow[], q: EverythingQuery, token: SearchRestriction | undefined, baseUrl: string): Promise<StoredVersion[]> {
    const types = this.referencedTypes().filter((t) => !q.types || q.types.includes(t));
    const onPage = new Set(rows.map((r) => `${r.resource_type}/${r.id}`));
    const wanted = new Map<string, Set<string>>();
    for (const r of rows) {
      for (const ref of referencesIn(r.content ?? '', types, baseUrl)) {
        if (onPage.has(`${ref.resourceType}/${ref.id}`)) continue; // already a match of this page
        if (!wanted.has(ref.resourceType)) wanted.set(ref.resourceType, new Set());
        wanted.get(ref.resourceType)!.add(ref.id);
      }
    }
    const refs: Ref[] = [];
    for (const [type, ids] of wanted) {
      const params: [string, string][] = [['_id', [...ids].join(',')]];
      if (q.since) params.push(['_lastUpdated', `ge${q.since}`]);
      const matches = await this.search.findMatches(type, params, { limit: ids.size, restriction: token });
      refs.push(...matches.map((m) => ({ resourceType: type, id: m.id })));
    }
    return this.contents(refs);
  }

  /** `*`: every type the search engine serves (not AuditEvent, which is the audit trail's) */
  private referencedTypes(): string[] {
    return this.kind.referenced.includes('*') ? this.definitions.resourceTypes.filter((t) => !READ_ONLY_TYPES.has(t)) : this.kind.referenced;
  }

  private entry(ctx: RequestContext, resourceType: string, id: string, content: string, mode: 'match' | 'include'): EntryJson {
    return { fullUrl: `${ctx.baseUrl}/${resourceType}/${id}`, resource: content, search: { mode } };
  }

  /** self, and `next`/`previous` as keyset cursors after the page's last / before its first resource. */
  private links(call: OperationCall, params: [string, string][], path: string, cursor: RecordCursor | undefined, page: RecordPage): BundleLink[] {
    const base = params.filter(([k]) => k !== '_cursor');
    const url = (c?: RecordCursor) => {
      const params = c ? [...base, ['_cursor', encodeRecordCursor(c)]] : base;
      const qs = new URLSearchParams(params).toString();
      return `${call.ctx.baseUrl}/${path}${qs ? '?' + qs : ''}`;
    };
    const link: BundleLink[] = [{ relation: 'self', url: url(cursor) }];
    const { rows, more } = page;
    if (!rows.length) return link;
    const backward = cursor?.direction === 'p';
    const first = rows[0];
    const last = rows[rows.length - 1];
    if (backward ? more : !!cursor) link.push({ relation: 'previous', url: url({ direction: 'p', type: first.resource_type, id: first.id }) });
    if (backward || more) link.push({ relation: 'next', url: url({ direction: 'n', type: last.resource_type, id: last.id }) });
    return link;
  }
}

function tooCostly(msg: string): FhirError {
  return FhirError.of(400, 'too-costly', msg);
}

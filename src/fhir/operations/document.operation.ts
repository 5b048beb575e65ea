import { randomUUID } from 'crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Bundle, FhirResource, OperationDefinition } from 'fhir/r4';
import { RequestAuthorizer } from '../../auth/request-authorizer';
import { Database } from '../../database/database';
import { FhirDefinitions } from '../definitions/definitions.module';
import { badRequest, FhirError, notFound } from '../errors';
import { READ_ONLY_TYPES } from '../rest/allowed-methods';
import type { FhirResponse } from '../rest/fhir-response';
import { InteractionsService } from '../rest/interactions.service';
import { SearchService, SearchRestriction } from '../search/search.service';
import { StorageService } from '../storage/storage.service';
import type { FhirOperation, OperationCall } from './operation-registry';
import { OperationInputs } from './operation-inputs';
import { referencesIn } from './patient-compartment';

/** Most resources one document gathers (the Composition and everything it leads to). */
export const MAX_DOCUMENT_RESOURCES = 1000;

/**
 * `Composition/$document` (R4 composition-operation-document.html, documents.html): a `document`
 * Bundle of the Composition first, then every resource it refers to and, recursively, every
 * resource those refer to (subject, encounter, authors, attesters, custodian, section entries, and
 * what they reference), each at its current version, with absolute fullUrls, an identifier and a
 * timestamp (bdl-9, bdl-10). Only references to this server are followed; a resource that is gone,
 * or that the token may not read, is left out (as `$everything` leaves it out). `persist=true`
 * (POST) stores the Bundle as a Bundle resource, authorized as its create, and answers its Location.
 */
@Injectable()
export class DocumentOperation implements FhirOperation {
  readonly name = 'document';
  readonly levels: FhirOperation['levels'] = ['type', 'instance'];
  readonly resourceTypes = ['Composition'];
  readonly affectsState = false;
  readonly definition: OperationDefinition = {
    resourceType: 'OperationDefinition',
    id: 'Composition-document',
    url: 'http://hl7.org/fhir/OperationDefinition/Composition-document',
    name: 'Generate a Document',
    status: 'active',
    kind: 'operation',
    code: 'document',
    resource: ['Composition'],
    system: false,
    type: true,
    instance: true,
    parameter: [
      { name: 'id', use: 'in', min: 0, max: '1', type: 'uri' },
      { name: 'persist', use: 'in', min: 0, max: '1', type: 'boolean' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'Bundle' },
    ],
  };

  constructor(
    private readonly db: Database,
    private readonly storage: StorageService,
    private readonly search: SearchService,
    private readonly interactions: InteractionsService,
    private readonly definitions: FhirDefinitions,
    @Inject(RequestAuthorizer) private readonly authorizer: RequestAuthorizer,
  ) {}

  async invoke(call: OperationCall): Promise<FhirResponse> {
    const input = new OperationInputs(call);
    const id = call.id ?? this.compositionId(input.text('id'), call.ctx.baseUrl);
    const persist = input.text('persist');
    if (persist !== undefined && persist !== 'true' && persist !== 'false') throw badRequest('persist must be true or false');
    if (persist === 'true' && call.method !== 'POST') throw FhirError.of(405, 'not-supported', '$document with persist=true stores a Bundle: use POST');
    const token = this.authorizer.restriction(call.ctx.auth);
    const composition = await this.storage.read('Composition', id); // 404 / 410
    if (!(await this.visible('Composition', [id], token)).length) throw notFound(`Composition/${id} is not known`);
    const resources = await this.gather(composition.content!, token, call.ctx.baseUrl);
    const uuid = randomUUID();
    const now = new Date().toISOString();
    const bundle: Bundle = {
      resourceType: 'Bundle',
      meta: { lastUpdated: now },
      identifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${uuid}` },
      type: 'document',
      timestamp: now,
      entry: resources.map((r) => ({ fullUrl: `${call.ctx.baseUrl}/${r.resourceType}/${r.id}`, resource: r })),
    };
    if (persist !== 'true') return { status: 200, body: { ...bundle, id: uuid } };
    if (call.ctx.auth) await this.authorizer.authorize(call.ctx.auth, { method: 'POST', path: 'Bundle', query: [], body: bundle });
    // the Bundle's own create is audited in its statement, the operation (what it read) by its request
    return this.interactions.create({ ...call.ctx, audit: undefined, prefer: { return: 'representation' } }, 'Bundle', bundle);
  }

  /** The `id` parameter: a Composition id, or its URL on this server (another server's is not followed). */
  private compositionId(value: string | undefined, baseUrl: string): string {
    if (!value) throw badRequest('$document at type level needs the id of the Composition');
    const local = value.startsWith(`${baseUrl}/`) ? value.slice(baseUrl.length + 1) : value;
    const m = /^(?:Composition\/)?([A-Za-z0-9\-.]{1,64})$/.exec(local);
    if (!m) throw badRequest(`id "${value}" is not a Composition on this server`);
    return m[1];
  }

  /** The Composition, then breadth first every resource reached by references, as the token may read them. */
  private async gather(composition: string, token: SearchRestriction | undefined, baseUrl: string): Promise<FhirResource[]> {
    const types = this.definitions.resourceTypes.filter((t) => !READ_ONLY_TYPES.has(t));
    const out: FhirResource[] = [JSON.parse(composition) as FhirResource];
    const seen = new Set([`Composition/${out[0].id}`]);
    /** the references of a resource not reached before (marked reached) */
    const unseen = (json: string) => {
      const refs: { resourceType: string; id: string }[] = [];
      for (const ref of referencesIn(json, types, baseUrl)) {
        const key = `${ref.resourceType}/${ref.id}`;
        if (!seen.has(key)) seen.add(key), refs.push(ref);
      }
      return refs;
    };
    let level = unseen(composition);
    while (level.length) {
      const byType = new Map<string, string[]>();
      for (const r of level) (byType.get(r.resourceType) ?? byType.set(r.resourceType, []).get(r.resourceType)!).push(r.id);
      const next: typeof level = [];
      for (const [type, ids] of byType) {
        const visible = await this.visible(type, ids, token);
        for (const v of await this.storage.resources.readMany(this.db, visible.map((x) => ({ resourceType: type, id: x })))) {
          if (v.deleted || !v.content) continue;
          out.push(JSON.parse(v.content) as FhirResource);
          next.push(...unseen(v.content));
        }
      }
      if (seen.size > MAX_DOCUMENT_RESOURCES) throw FhirError.of(400, 'too-costly', `the document would gather more than ${MAX_DOCUMENT_RESOURCES} resources`);
      level = next;
    }
    return out;
  }

  private async visible(type: string, ids: string[], token: SearchRestriction | undefined): Promise<string[]> {
    if (!token) return ids;
    const matches = await this.search.findMatches(type, [['_id', ids.join(',')]], { limit: ids.length, restriction: token });
    return matches.map((m) => m.id);
  }
}

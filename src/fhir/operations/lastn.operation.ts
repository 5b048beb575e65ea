import { Inject, Injectable } from '@nestjs/common';
import type { Observation, OperationDefinition } from 'fhir/r4';
import { RequestAuthorizer } from '../../auth/request-authorizer';
import { Database } from '../../database/database';
import { bundleJson } from '../bundle-json';
import { badRequest, FhirError } from '../errors';
import type { FhirResponse } from '../rest/fhir-response';
import { SearchService } from '../search/search.service';
import { StorageService } from '../storage/storage.service';
import { inputPairs } from './operation-inputs';
import type { FhirOperation, OperationCall } from './operation-registry';

/** Candidates one $lastn looks at; beyond it the client narrows with category, code or date. */
const MAX_CANDIDATES = 20_000;
const READ_BATCH = 500;
const MAX_MAX = 1000;
/** Parameters of the operation itself; every other one is an Observation search parameter. */
const OWN = new Set(['max', '_format', '_pretty']);

interface Latest {
  time: string;
  id: string;
  content: string;
}

/**
 * `Observation/$lastn` (observation-operation-lastn.html, R4): the most
 * recent `max` Observations (default 1) for each code, among those matching
 * the other parameters (patient or subject required; category, code, date
 * and any Observation search parameter) under the token's restriction.
 * Grouped by the first coding of Observation.code (or its text), newest
 * first by effective[x] (falling back to issued). Candidates are read in
 * batches keeping only the best `max` per code, so memory stays small.
 * Inputs come from the URL and, with POST, from the body (a Parameters
 * resource or a form): see `inputPairs`.
 */
@Injectable()
export class LastNOperation implements FhirOperation {
  readonly name = 'lastn';
  readonly levels: FhirOperation['levels'] = ['type'];
  readonly resourceTypes = ['Observation'];
  readonly affectsState = false;
  readonly definition: OperationDefinition = {
    resourceType: 'OperationDefinition',
    id: 'Observation-lastn',
    url: 'http://hl7.org/fhir/OperationDefinition/Observation-lastn',
    name: 'Last N Observations Query',
    status: 'active',
    kind: 'query',
    code: 'lastn',
    resource: ['Observation'],
    system: false,
    type: true,
    instance: false,
    parameter: [
      { name: 'max', use: 'in', min: 0, max: '1', type: 'positiveInt' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'Bundle' },
    ],
  };

  constructor(
    private readonly db: Database,
    private readonly storage: StorageService,
    private readonly search: SearchService,
    @Inject(RequestAuthorizer) private readonly authorizer: RequestAuthorizer,
  ) {}

  async invoke(call: OperationCall): Promise<FhirResponse> {
    const params = inputPairs(call, '$lastn');
    const maxValue = params.find(([k]) => k === 'max')?.[1] ?? '1';
    if (!/^[1-9][0-9]*$/.test(maxValue)) throw badRequest('max must be a positive integer');
    const max = Math.min(Number(maxValue), MAX_MAX);
    const criteria = params.filter(([k]) => !OWN.has(k));
    if (!criteria.some(([k]) => /^(patient|subject)(:|$)/.test(k))) {
      throw badRequest('$lastn needs a patient (or subject) parameter');
    }
    const matches = await this.search.findMatches('Observation', criteria, {
      limit: MAX_CANDIDATES + 1,
      restriction: this.authorizer.restriction(call.ctx.auth),
    });
    if (matches.length > MAX_CANDIDATES) {
      throw FhirError.of(400, 'too-costly', `more than ${MAX_CANDIDATES} Observations match: narrow with category, code or date`);
    }
    const groups = new Map<string, Latest[]>();
    for (let i = 0; i < matches.length; i += READ_BATCH) {
      const rows = await this.storage.resources.readMany(this.db, matches.slice(i, i + READ_BATCH));
      for (const row of rows) {
        const o = JSON.parse(row.content!) as Observation;
        const key = groupKey(o);
        const best = groups.get(key) ?? [];
        best.push({ time: effectiveTime(o), id: row.id, content: row.content! });
        best.sort(newestFirst);
        if (best.length > max) best.length = max;
        groups.set(key, best);
      }
    }
    const entry = [...groups.keys()].sort().flatMap((k) =>
      groups.get(k)!.map((l) => ({ fullUrl: `${call.ctx.baseUrl}/Observation/${l.id}`, resource: l.content, search: { mode: 'match' as const } })),
    );
    const qs = new URLSearchParams(params).toString();
    return {
      status: 200,
      body: bundleJson({ type: 'searchset', total: entry.length, link: [{ relation: 'self', url: `${call.ctx.baseUrl}/Observation/$lastn?${qs}` }], entry }),
    };
  }
}

/** The code an Observation is grouped under: its first coding (system|code), else its text. */
function groupKey(o: Observation): string {
  const c = o.code?.coding?.[0];
  if (c?.code) return `${c.system ?? ''}|${c.code}`;
  return `text:${(o.code?.text ?? '').toLowerCase()}`;
}

/** When it was true for the patient: effective[x] (period end, else start), else issued; as a sortable UTC string. */
function effectiveTime(o: Observation): string {
  const raw = o.effectiveDateTime ?? o.effectiveInstant ?? o.effectivePeriod?.end ?? o.effectivePeriod?.start ?? o.issued;
  const t = raw ? Date.parse(raw) : NaN;
  return Number.isNaN(t) ? '' : new Date(t).toISOString();
}

function newestFirst(a: Latest, b: Latest): number {
  return a.time === b.time ? (a.id < b.id ? -1 : 1) : a.time < b.time ? 1 : -1;
}

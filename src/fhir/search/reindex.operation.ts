import type { OperationDefinition, Parameters } from 'fhir/r4';
import type { AuthContext } from '../../auth/auth-context';
import { JobQueue } from '../../jobs/job-queue';
import { badRequest, FhirError, issue, operationOutcome } from '../errors';
import type { FhirOperation, OperationCall } from '../operations/operation-registry';
import type { FhirResponse } from '../rest/fhir-response';
import type { Reindexer, ReindexResult } from './reindex';
import type { SearchParameterRegistry } from './search-params';

export const REINDEX_QUEUE = 'search-reindex';

/**
 * Who may rebuild the search index: admins and internal calls. This is the
 * hook the authorization layer may replace with its own policy.
 */
export function mayReindex(auth: AuthContext | undefined): boolean {
  return !auth || auth.admin;
}

/**
 * `POST [base]/$reindex` (system level, changes state): rebuilds the search
 * index of stored resources and puts the custom SearchParameters in force.
 * Types: `_type` (query or a `type` Parameters part, comma separated),
 * default all. With `Prefer: respond-async` it is queued as a background job
 * (any server process runs it; progress in the logs) and answers 202;
 * otherwise it runs now and answers 200 with the counts.
 */
export class ReindexOperation implements FhirOperation {
  readonly name = 'reindex';
  readonly levels: FhirOperation['levels'] = ['system'];
  readonly affectsState = true;
  /** a rebuild of every index runs for minutes (or as a background job): not a batch entry */
  readonly inBundle = false;
  readonly definition: OperationDefinition = {
    resourceType: 'OperationDefinition',
    id: 'reindex',
    url: 'urn:fhir-r4-server:OperationDefinition/reindex',
    name: 'Reindex',
    status: 'active',
    kind: 'operation',
    code: 'reindex',
    system: true,
    type: false,
    instance: false,
    description: 'Rebuilds the search index (after adding custom SearchParameters). Admins only.',
    parameter: [
      { name: 'type', use: 'in', min: 0, max: '1', type: 'string', documentation: 'resource types, comma separated (default: all)' },
      { name: 'resources', use: 'out', min: 0, max: '1', type: 'integer' },
    ],
  };

  constructor(
    private readonly reindexer: Reindexer,
    private readonly registry: SearchParameterRegistry,
    private readonly queue: JobQueue,
  ) {}

  async invoke(call: OperationCall): Promise<FhirResponse> {
    if (!mayReindex(call.ctx.auth)) throw FhirError.of(403, 'forbidden', '$reindex is for administrators');
    const types = this.types(call);
    if (call.ctx.prefer.respondAsync) {
      const job = await this.queue.send(REINDEX_QUEUE, { types });
      this.queue.wake(REINDEX_QUEUE);
      return {
        status: 202,
        // async.html: where to poll (ReindexStatusOperation)
        headers: { 'Content-Location': `${call.ctx.baseUrl}/$reindex-status?_jobId=${job}` },
        body: operationOutcome([issue('informational', `reindex job ${job} queued${types ? ` for ${types.join(', ')}` : ''}`, undefined, 'information')]),
      };
    }
    return { status: 200, body: reindexResultParameters(await this.reindexer.run({ types })) };
  }

  private types(call: OperationCall): string[] | undefined {
    const body = call.body as { resourceType?: string; parameter?: { name: string; valueString?: string; valueCode?: string }[] } | undefined;
    const fromBody = body?.resourceType === 'Parameters' ? body.parameter?.filter((p) => p.name === 'type').map((p) => p.valueString ?? p.valueCode ?? '') : [];
    const listed = [...call.params.filter(([k]) => k === '_type' || k === 'type').map(([, v]) => v), ...(fromBody ?? [])]
      .flatMap((v) => v.split(','))
      .map((t) => t.trim())
      .filter(Boolean);
    for (const t of listed) if (!this.registry.isResourceType(t)) throw badRequest(`unknown resource type "${t}"`);
    return listed.length ? listed : undefined;
  }
}

/** What `$reindex` answers when done (now, or through `$reindex-status`). */
export function reindexResultParameters(r: ReindexResult): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'resources', valueInteger: r.resources },
      { name: 'customParameters', valueInteger: r.customParameters },
      { name: 'seconds', valueDecimal: r.seconds },
    ],
  };
}

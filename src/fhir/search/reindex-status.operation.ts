import type { OperationDefinition } from 'fhir/r4';
import type { Queryable } from '../../database/database';
import type { JobQueue } from '../../jobs/job-queue';
import { badRequest, FhirError, notFound, notSupported } from '../errors';
import type { FhirOperation, OperationCall } from '../operations/operation-registry';
import type { FhirResponse } from '../rest/fhir-response';
import type { ReindexProgress, ReindexResult } from './reindex';
import { mayReindex, REINDEX_QUEUE, reindexResultParameters } from './reindex.operation';

/** How often a running job's progress row is rewritten (it is read only by status polls). */
const PROGRESS_EVERY_MS = 2_000;

/**
 * Records a background reindex job's progress (`reindex_job_progress`), throttled; `final` always writes.
 * Failures to record are not the reindex's failures: they are swallowed (the log has the progress too).
 */
export function progressRecorder(db: Queryable, jobId: string): (p: ReindexProgress, final?: boolean) => Promise<void> {
  let last = 0;
  return async (p, final = false) => {
    if (!final && Date.now() - last < PROGRESS_EVERY_MS) return;
    last = Date.now();
    await db
      .query(
        `INSERT INTO reindex_job_progress (job_id, progress) VALUES ($1, $2)
         ON CONFLICT (job_id) DO UPDATE SET progress = EXCLUDED.progress, updated = now()`,
        [jobId, JSON.stringify(p)],
      )
      .catch(() => undefined);
  };
}

/**
 * The status URL of a background `$reindex` (`[base]/$reindex-status?_jobId=…`, the
 * `Content-Location` of its 202; async.html): 202 with `X-Progress` while it is queued or runs
 * (the type and the count reached), then 200 with the same Parameters a synchronous `$reindex`
 * answers, or 500 with an OperationOutcome when it failed for good. Admins only, like `$reindex`.
 */
export class ReindexStatusOperation implements FhirOperation {
  readonly name = 'reindex-status';
  readonly levels: FhirOperation['levels'] = ['system'];
  readonly affectsState = false;
  readonly definition: OperationDefinition = {
    resourceType: 'OperationDefinition',
    id: 'reindex-status',
    url: 'urn:fhir-r4-server:OperationDefinition/reindex-status',
    name: 'ReindexStatus',
    status: 'active',
    kind: 'operation',
    code: 'reindex-status',
    system: true,
    type: false,
    instance: false,
    description: 'The status of a $reindex run with Prefer: respond-async (its Content-Location). Admins only.',
    parameter: [{ name: '_jobId', use: 'in', min: 1, max: '1', type: 'string' }],
  };

  constructor(
    private readonly queue: JobQueue,
    private readonly db: Queryable,
  ) {}

  async invoke(call: OperationCall): Promise<FhirResponse> {
    if (!mayReindex(call.ctx.auth)) throw FhirError.of(403, 'forbidden', '$reindex-status is for administrators');
    if (call.method !== 'GET') throw notSupported(405, 'poll the reindex status with GET');
    const jobId = call.params.find(([k]) => k === '_jobId')?.[1];
    // pg-boss ids are UUIDs: anything else is no job (and never reaches the uuid cast)
    if (!jobId || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(jobId)) throw badRequest('_jobId: the id of a reindex job is required');
    const job = await this.queue.job(REINDEX_QUEUE, jobId);
    if (!job || job.state === 'cancelled') throw notFound(`no reindex job ${jobId}`);
    if (job.state === 'completed') return { status: 200, body: reindexResultParameters(job.output as ReindexResult) };
    if (job.state === 'failed') {
      const message = (job.output as { message?: string } | null)?.message ?? 'unknown error';
      throw FhirError.of(500, 'exception', `reindex job ${jobId} failed: ${message}`);
    }
    return { status: 202, headers: { 'X-Progress': await this.progress(jobId, job.state, job.retryCount), 'Retry-After': '10' } };
  }

  private async progress(jobId: string, state: string, retries: number): Promise<string> {
    if (state === 'created') return 'queued';
    const r = await this.db.query<{ progress: ReindexProgress }>(`SELECT progress FROM reindex_job_progress WHERE job_id = $1`, [jobId]);
    const p = r.rows[0]?.progress;
    const again = retries > 0 ? ` (attempt ${retries + 1})` : '';
    if (state === 'retry') return `waiting to retry${again}`;
    if (!p) return `running${again}`;
    return `running${again}: ${p.resourceType} ${p.done} of ${p.total}, ${p.overall} resources reindexed`;
  }
}

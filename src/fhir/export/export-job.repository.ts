import type { Queryable } from '../../database/database';
import type { ExportFile, ExportJob, ExportParams } from './export.types';

function toJob(r: any): ExportJob {
  return {
    id: r.id,
    clientId: r.client_id,
    status: r.status,
    request: r.request,
    params: r.params,
    transactionTime: r.transaction_time,
    progress: r.progress,
    output: r.output,
    error: r.error,
    message: r.message,
    attempt: r.attempt,
    completedAt: r.completed_at,
    expiresAt: r.expires_at,
  };
}

/** A page of current resources of one type, in id order (keyset paging: no long transaction, no snapshot held). */
export interface ResourcePage {
  ids: string[];
  contents: string[];
}

/** Owns the SQL of `bulk_export_job` and the keyset scans an export reads resources with. */
export class ExportJobRepository {
  async insert(
    q: Queryable,
    job: { id: string; clientId: string | null; request: string; params: ExportParams; transactionTime: Date; expiresAt: Date },
  ): Promise<void> {
    await q.query(
      `INSERT INTO bulk_export_job (id, client_id, status, request, params, transaction_time, expires_at)
       VALUES ($1, $2, 'accepted', $3, $4, $5, $6)`,
      [job.id, job.clientId, job.request, JSON.stringify(job.params), job.transactionTime, job.expiresAt],
    );
  }

  async find(q: Queryable, id: string): Promise<ExportJob | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const r = await q.query('SELECT * FROM bulk_export_job WHERE id = $1 AND expires_at > now()', [id]);
    return r.rows.length ? toJob(r.rows[0]) : undefined;
  }

  async exists(q: Queryable, id: string): Promise<boolean> {
    const r = await q.query('SELECT 1 FROM bulk_export_job WHERE id = $1', [id]);
    return r.rows.length > 0;
  }

  /** A run takes the job over: its attempt number, or undefined when the job is gone or finished. */
  async claim(q: Queryable, id: string): Promise<number | undefined> {
    const r = await q.query(
      `UPDATE bulk_export_job SET attempt = attempt + 1, heartbeat_at = now(), status = 'in-progress', progress = 'starting'
        WHERE id = $1 AND status IN ('accepted', 'in-progress')
        RETURNING attempt`,
      [id],
    );
    return r.rows[0]?.attempt;
  }

  /** Records progress (and the heartbeat); false when the job is gone (cancelled) or another run took it over. */
  async progress(q: Queryable, id: string, attempt: number, progress: string): Promise<boolean> {
    const r = await q.query('UPDATE bulk_export_job SET progress = $3, heartbeat_at = now() WHERE id = $1 AND attempt = $2', [
      id,
      attempt,
      progress,
    ]);
    return (r.rowCount ?? 0) > 0;
  }

  async complete(q: Queryable, id: string, attempt: number, output: ExportFile[], error: ExportFile[], expiresAt: Date): Promise<boolean> {
    const r = await q.query(
      `UPDATE bulk_export_job SET status = 'completed', progress = 'completed', output = $3, error = $4,
              completed_at = now(), expires_at = $5
        WHERE id = $1 AND attempt = $2`,
      [id, attempt, JSON.stringify(output), JSON.stringify(error), expiresAt],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /**
   * Jobs in progress whose heartbeat stopped (the run's process died):
   * their heartbeat is reset as they are returned, so one process re-queues each.
   */
  async stalled(q: Queryable, seconds: number): Promise<string[]> {
    const r = await q.query(
      `UPDATE bulk_export_job SET heartbeat_at = now()
        WHERE status = 'in-progress' AND heartbeat_at < now() - make_interval(secs => $1::double precision)
        RETURNING id`,
      [seconds],
    );
    return r.rows.map((x: any) => x.id);
  }

  async fail(q: Queryable, id: string, message: string, expiresAt: Date): Promise<void> {
    await q.query(
      `UPDATE bulk_export_job SET status = 'failed', message = $2, completed_at = now(), expires_at = $3 WHERE id = $1`,
      [id, message, expiresAt],
    );
  }

  async delete(q: Queryable, id: string): Promise<boolean> {
    const r = await q.query('DELETE FROM bulk_export_job WHERE id = $1', [id]);
    return (r.rowCount ?? 0) > 0;
  }

  /** Ids of jobs past their expiry (their files go too). */
  async expired(q: Queryable, limit = 100): Promise<string[]> {
    const r = await q.query('SELECT id FROM bulk_export_job WHERE expires_at <= now() LIMIT $1', [limit]);
    return r.rows.map((x: any) => x.id);
  }

  /**
   * Current resources of a type after `afterId`, as of the export's
   * transaction time (later changes are left to the next `_since` export).
   */
  async page(
    q: Queryable,
    type: string,
    opts: { afterId?: string; since?: string; until: Date; limit: number },
  ): Promise<ResourcePage> {
    // conditions only when present: `id > $n` must stay an index bound of the (resource_type, id) key
    const values: unknown[] = [type, opts.until, opts.limit];
    const where = ['resource_type = $1', 'NOT deleted', 'last_updated <= $2'];
    if (opts.since) where.push(`last_updated >= $${values.push(opts.since)}`);
    if (opts.afterId !== undefined) where.push(`id > $${values.push(opts.afterId)}`);
    const r = await q.query(`SELECT id, content FROM resource WHERE ${where.join(' AND ')} ORDER BY id LIMIT $3`, values);
    return { ids: r.rows.map((x: any) => x.id), contents: r.rows.map((x: any) => x.content) };
  }

  /** The stored JSON of these resources (current, not deleted), in the order given. */
  async contents(q: Queryable, type: string, ids: string[]): Promise<string[]> {
    if (!ids.length) return [];
    const r = await q.query(
      `SELECT r.content FROM unnest($2::text[]) WITH ORDINALITY AS k(id, n)
         JOIN resource r ON r.resource_type = $1 AND r.id = k.id
        WHERE NOT r.deleted
        ORDER BY k.n`,
      [type, ids],
    );
    return r.rows.map((x: any) => x.content);
  }
}

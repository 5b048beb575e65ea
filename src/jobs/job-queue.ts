import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import PgBoss from 'pg-boss';
import { APP_CONFIG, AppConfig } from '../config/config';
import type { Queryable } from '../database/database';
import { Database } from '../database/database';
import { logger } from '../logger';

export type JobHandler<T> = (job: PgBoss.JobWithMetadata<T>, signal: AbortSignal) => Promise<unknown>;

export interface QueueOptions {
  retryLimit: number;
  /** seconds before the first retry (doubled each time with backoff) */
  retryDelay: number;
  retryBackoff: boolean;
  /** a job running longer than this is failed (and retried): covers a crashed worker */
  expireInSeconds: number;
  /** workers in this process */
  workers: number;
  /**
   * jobs a worker takes per fetch, run concurrently; each succeeds or fails
   * (and is retried) on its own. 1: one at a time (long jobs)
   */
  batchSize?: number;
  /** how often an idle worker looks for jobs */
  pollingIntervalSeconds?: number;
}

/**
 * The background job queue: pg-boss on the server's own database (the
 * embedded one too), so jobs survive restarts and any server process can
 * take them. pg-boss runs its SQL through the server's pool, so on the
 * embedded database it shares the single connection and its multi-statement
 * transactions stay on one session.
 *
 * Jobs are enqueued inside the caller's transaction when given one
 * (`send(…, tx)`): the job exists exactly when the data it is about commits.
 * Long jobs watch `signal`: at shutdown it aborts, the handler throws, and
 * pg-boss retries the job in whichever process runs next.
 */
@Injectable()
export class JobQueue implements OnModuleInit, OnModuleDestroy {
  private readonly boss: PgBoss;
  private readonly shutdown = new AbortController();
  private readonly workerIds = new Map<string, string[]>();
  private started?: Promise<unknown>;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    db: Database,
  ) {
    this.boss = new PgBoss({
      db: adapter(db),
      // tests isolate each app in its own schema: jobs live (and are dropped) with it
      schema: config.databaseSchema ?? 'pgboss',
      supervise: true,
      schedule: false,
      migrate: true,
    });
    this.boss.on('error', (err: Error) => logger.warn({ err: err.message }, 'job queue error'));
  }

  async onModuleInit(): Promise<void> {
    this.started = this.boss.start();
    await this.started;
  }

  async onModuleDestroy(): Promise<void> {
    this.shutdown.abort();
    await this.boss.stop({ graceful: true, close: false, timeout: 10_000, wait: true }).catch((err: Error) => {
      logger.warn({ err: err.message }, 'job queue did not stop cleanly');
    });
  }

  /** Aborted when the process shuts down. */
  get signal(): AbortSignal {
    return this.shutdown.signal;
  }

  /** Creates (or updates) a queue and starts this process's workers on it. */
  async process<T extends object>(name: string, options: QueueOptions, handler: JobHandler<T>): Promise<void> {
    const { workers, pollingIntervalSeconds = 1, batchSize = 1, ...queue } = options;
    const existing = await this.boss.getQueue(name);
    if (existing) await this.boss.updateQueue(name, { name, ...queue });
    else await this.boss.createQueue(name, { name, ...queue }).catch(async (err: Error) => {
      // another process created it at the same time
      if (!(await this.boss.getQueue(name))) throw err;
    });
    const ids: string[] = [];
    for (let i = 0; i < workers; i++) {
      ids.push(
        await this.boss.work<T>(name, { batchSize, includeMetadata: true, pollingIntervalSeconds }, async (jobs) => {
          if (jobs.length === 1) return handler(jobs[0], this.shutdown.signal);
          // a batch: pg-boss would fail or complete them all together, so failures are recorded one by one
          await Promise.all(
            jobs.map((job) =>
              handler(job, this.shutdown.signal).catch((err) => this.boss.fail(name, job.id, { message: String(err?.message ?? err) })),
            ),
          );
        }),
      );
    }
    this.workerIds.set(name, ids);
  }

  /** Enqueues a job, inside `tx` when given (it then exists only if that transaction commits). */
  async send<T extends object>(name: string, data: T, options: PgBoss.SendOptions = {}, tx?: Queryable): Promise<string> {
    const id = await this.boss.send(name, data, tx ? { ...options, db: adapter(tx) } : options);
    if (!id) throw new Error(`job not created on queue ${name}`);
    return id;
  }

  /** Enqueues many jobs in one statement, inside `tx` when given. */
  async sendMany<T extends object>(name: string, data: T[], tx?: Queryable): Promise<void> {
    if (!data.length) return;
    await this.boss.insert(
      data.map((d) => ({ name, data: d })),
      tx ? { db: adapter(tx) } : {},
    );
  }

  /** Wakes this process's idle workers of a queue now instead of at their next poll. */
  wake(name: string): void {
    for (const id of this.workerIds.get(name) ?? []) this.boss.notifyWorker(id);
  }

  async cancel(name: string, id: string): Promise<void> {
    await this.boss.cancel(name, id).catch(() => undefined);
  }

  /** The job row (state, retries) or null. */
  job(name: string, id: string): Promise<PgBoss.JobWithMetadata | null> {
    return this.boss.getJobById(name, id);
  }
}

function adapter(q: Queryable): PgBoss.Db {
  return { executeSql: (text: string, values: any[]) => q.query(text, values) };
}

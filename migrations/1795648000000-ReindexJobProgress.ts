import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The progress of `$reindex` jobs run in the background (`Prefer: respond-async`): the worker that
 * runs a job writes where it is (type, resources done), and `$reindex-status` reads it for its
 * `X-Progress` header from whichever server process is polled (async.html). One row per job, kept
 * with the job's result in pg-boss's own table.
 */
export class ReindexJobProgress1795648000000 implements MigrationInterface {
  name = 'ReindexJobProgress1795648000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE IF NOT EXISTS reindex_job_progress (
        job_id text PRIMARY KEY,
        progress jsonb NOT NULL,
        updated timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS reindex_job_progress');
  }
}

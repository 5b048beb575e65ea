import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Bulk export jobs survive a crashed worker: each run claims the job
 * (`attempt`) and beats a heartbeat with every page; a job in progress whose
 * heartbeat stops is handed to a new run, and the old run, if it was only
 * slow, notices it lost the claim and stops. Files live per attempt.
 */
export class BulkExportHeartbeat1795630078559 implements MigrationInterface {
  name = 'BulkExportHeartbeat1795630078559';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE bulk_export_job ADD COLUMN attempt integer NOT NULL DEFAULT 0, ADD COLUMN heartbeat_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE bulk_export_job DROP COLUMN attempt, DROP COLUMN heartbeat_at');
  }
}

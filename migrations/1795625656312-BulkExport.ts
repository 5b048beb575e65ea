import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Bulk Data $export jobs (Bulk Data Access 2.0): what was asked, by which
 * client, how far it got and which NDJSON files it wrote (in DATA_DIR). The
 * work itself runs on the job queue (pg-boss); this row is what the status
 * URL reports and what a DELETE removes. Rows and files expire.
 */
export class BulkExport1795625656312 implements MigrationInterface {
  name = 'BulkExport1795625656312';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE bulk_export_job (
        id uuid PRIMARY KEY,
        client_id text,
        status text NOT NULL,
        request text NOT NULL,
        params jsonb NOT NULL,
        transaction_time timestamptz NOT NULL,
        progress text,
        output jsonb NOT NULL DEFAULT '[]',
        error jsonb NOT NULL DEFAULT '[]',
        message text,
        created_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX bulk_export_job_expires_idx ON bulk_export_job (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE bulk_export_job');
  }
}

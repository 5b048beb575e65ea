import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each audit row carries its own hash (`row_hash` = SHA-256 of the canonical
 * row), computed by the writer from the values it inserts; the sealer then
 * chains (tx, row_hash) without reading whole rows back. Rows whose writer
 * could not compute it (a delete written by a bundle, rows from before this
 * migration) get it from the sealer.
 */
export class AuditRowHash1795627405005 implements MigrationInterface {
  name = 'AuditRowHash1795627405005';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE audit_event ADD COLUMN row_hash bytea');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE audit_event DROP COLUMN row_hash');
  }
}

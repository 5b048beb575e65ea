import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `row_key` on the index tables: a hash of the row and its owner, written by storage
 * (src/fhir/storage/row-key.ts), so that an update replaces only the index rows that changed.
 * Rows written before (NULL) are replaced at the next write of their resource, as before.
 */
export class SearchIndexRowKey1795638000000 implements MigrationInterface {
  name = 'SearchIndexRowKey1795638000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE search_index ADD COLUMN row_key bigint`);
    await q.query(`ALTER TABLE search_index_contained ADD COLUMN row_key bigint`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE search_index DROP COLUMN row_key`);
    await q.query(`ALTER TABLE search_index_contained DROP COLUMN row_key`);
  }
}

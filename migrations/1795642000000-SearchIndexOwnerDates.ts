import { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';

const INDEX = 'search_index_owner_date_idx';
const DEFINITION = `ON search_index (shash, phash) INCLUDE (resource_id, low, high) WHERE kind = 'o'`;

/**
 * Owner date rows (kind `o`, written by the indexer: index-tables.ts `ownerDateRows`): each date value
 * of a resource again, keyed by the hash of each of its references to a Patient. A patient's
 * resources sorted by a date (`Observation?subject=Patient/1&_sort=-date`) are then one range of
 * this index, where before every resource of the patient was probed for its date (865 probes for
 * one patient at a million resources: 13 ms).
 *
 * Existing data has no such rows until `npm run reindex`: `search_index_feature` records whether
 * every resource has them (true on a database without date rows yet; a full reindex sets it), and
 * searches use them only then. The index is built CONCURRENTLY (concurrent-index.ts).
 */
export class SearchIndexOwnerDates1795642000000 implements MigrationInterface {
  name = 'SearchIndexOwnerDates1795642000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE IF NOT EXISTS search_index_feature (name text PRIMARY KEY, ready boolean NOT NULL, updated timestamptz NOT NULL DEFAULT now())`);
    await q.query(
      `INSERT INTO search_index_feature (name, ready)
       SELECT 'owner_dates', NOT EXISTS (SELECT 1 FROM search_index WHERE kind = 'd') ON CONFLICT (name) DO NOTHING`,
    );
    await createIndexConcurrently(q, INDEX, DEFINITION);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS ${INDEX}`);
    await q.query(`DELETE FROM search_index WHERE kind = 'o'`);
    await q.query(`DROP TABLE IF EXISTS search_index_feature`);
  }
}

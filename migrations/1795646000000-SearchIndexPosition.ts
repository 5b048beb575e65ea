import { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';

const INDEX = 'search_index_position_idx';
const DEFINITION = `ON search_index (phash, nlow) INCLUDE (nhigh, resource_id) WHERE kind = 'g'`;

/**
 * `Location.near` (src/fhir/search/position.ts): the index rows of kind `g` hold a Location's
 * position (latitude in `nlow`, longitude in `nhigh`); a search reads its circle's latitude band
 * from this index and checks the longitude and the distance on the entries (index-only).
 *
 * The Locations already stored get their row here, from their current content (the same values
 * the indexer extracts: both coordinates numbers within ±90 / ±180; `row_key` NULL, so their next
 * update replaces it). Contained Locations get theirs from `npm run reindex`. Built CONCURRENTLY
 * (concurrent-index.ts).
 */
export class SearchIndexPosition1795646000000 implements MigrationInterface {
  name = 'SearchIndexPosition1795646000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      INSERT INTO search_index (resource_type, resource_id, param, kind, nlow, nhigh, phash)
      SELECT r.resource_type, r.id, 'near', 'g', (p->>'latitude')::numeric, (p->>'longitude')::numeric, search_hash('Location|near')
        FROM resource r CROSS JOIN LATERAL (SELECT r.content::jsonb->'position' AS p) pos
       WHERE r.resource_type = 'Location' AND NOT r.deleted
         AND jsonb_typeof(p->'latitude') = 'number' AND jsonb_typeof(p->'longitude') = 'number'
         AND abs((p->>'latitude')::numeric) <= 90 AND abs((p->>'longitude')::numeric) <= 180
         AND NOT EXISTS (SELECT 1 FROM search_index x WHERE x.resource_id = r.id AND x.resource_type = 'Location' AND x.kind = 'g')`);
    await createIndexConcurrently(q, INDEX, DEFINITION);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS ${INDEX}`);
    await q.query(`DELETE FROM search_index WHERE kind = 'g'`);
  }
}

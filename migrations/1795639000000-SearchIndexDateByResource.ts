import { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';

const INDEX = 'search_index_date_resource_idx';
const DEFINITION = `ON search_index (resource_id, phash) INCLUDE (resource_type, low, high) WHERE kind = 'd'`;

/**
 * The date rows of one resource, index-only: the sort value of `_sort=date` and the per-id check of a
 * date criterion (`Observation?subject=…&date=ge…&_sort=-date`) each read one resource's rows of one
 * parameter. Through the (resource_type, resource_id) index they fetched every index row of the
 * resource from the heap (an Observation has ten or so) to keep one.
 *
 * Built CONCURRENTLY, outside a transaction (`transaction = false`; concurrent-index.ts says why).
 */
export class SearchIndexDateByResource1795639000000 implements MigrationInterface {
  name = 'SearchIndexDateByResource1795639000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await createIndexConcurrently(q, INDEX, DEFINITION);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS ${INDEX}`);
  }
}

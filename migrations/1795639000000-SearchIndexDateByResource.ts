import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The date rows of one resource, index-only: the sort value of `_sort=date` and the per-id check of a
 * date criterion (`Observation?subject=…&date=ge…&_sort=-date`) each read one resource's rows of one
 * parameter. Through the (resource_type, resource_id) index they fetched every index row of the
 * resource from the heap (an Observation has ten or so) to keep one.
 */
export class SearchIndexDateByResource1795639000000 implements MigrationInterface {
  name = 'SearchIndexDateByResource1795639000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX search_index_date_resource_idx ON search_index (resource_id, phash) INCLUDE (resource_type, low, high) WHERE kind = 'd'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX search_index_date_resource_idx`);
  }
}

import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Search index rows of contained resources (search.html#contained,
 * src/fhir/search/contained-search.ts). A table of its own so that
 * `search_index`, its statistics and every ordinary search plan stay exactly
 * as they were:
 * - storage writes and replaces the rows by the CONTAINER's key
 *   (container_type, container_id), in the same statement as the container;
 * - resource_type is the contained resource's type and resource_id the
 *   contained resource's identity `ContainerType/containerId#containedId`,
 *   so the generated hashes are those of `search_index` (`Medication|code|x`)
 *   and the search SQL is the same with this table in place of the other.
 * Same columns, generated hashes and range indexes as `search_index` (see its
 * migration); no full-text columns (`_text`/`_content` are the container's).
 */
export class SearchIndexContained1795635000000 implements MigrationInterface {
  name = 'SearchIndexContained1795635000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE search_index_contained (
        container_type text NOT NULL,
        container_id text NOT NULL,
        resource_type text NOT NULL,
        resource_id text NOT NULL,
        param text NOT NULL,
        kind text NOT NULL,
        system text,
        value text COLLATE "C",
        text text,
        exact text,
        target_type text,
        target_id text,
        low timestamptz,
        high timestamptz,
        nlow numeric,
        nhigh numeric,
        narrative tsvector,
        content tsvector,
        hash bigint GENERATED ALWAYS AS (
          CASE WHEN kind IN ('t', 'r') THEN search_hash(resource_type || '|' || param || '|' || coalesce(value, '')) END) STORED,
        shash bigint GENERATED ALWAYS AS (
          CASE WHEN kind = 't' AND system IS NOT NULL THEN search_hash(resource_type || '|' || param || '|' || system || '|' || coalesce(value, '')) END) STORED,
        phash bigint GENERATED ALWAYS AS (
          CASE WHEN kind IN ('s', 'd', 'n') THEN search_hash(resource_type || '|' || param) END) STORED,
        span smallint GENERATED ALWAYS AS (
          CASE WHEN kind <> 'd' THEN NULL
               WHEN low = '-infinity' OR high = 'infinity' THEN 2
               WHEN high - low < interval '1 day' THEN 0
               WHEN high - low < interval '366 days' THEN 1
               ELSE 2 END) STORED
      )`);
    await q.query(`CREATE INDEX search_index_contained_container_idx ON search_index_contained (container_type, container_id)`);
    await q.query(`CREATE INDEX search_index_contained_resource_idx ON search_index_contained (resource_type, resource_id)`);
    await q.query(`CREATE INDEX search_index_contained_hash_idx ON search_index_contained (hash, resource_id) INCLUDE (shash) WHERE hash IS NOT NULL`);
    await q.query(`CREATE INDEX search_index_contained_string_idx ON search_index_contained (phash, value) INCLUDE (resource_id) WHERE kind = 's'`);
    await q.query(`CREATE INDEX search_index_contained_date_low_idx ON search_index_contained (phash, span, low) INCLUDE (high, resource_id) WHERE kind = 'd'`);
    await q.query(`CREATE INDEX search_index_contained_number_idx ON search_index_contained (phash, nlow) INCLUDE (nhigh, resource_id) WHERE kind = 'n'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE search_index_contained');
  }
}

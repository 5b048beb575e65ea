import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The search index (see README "Search" and src/fhir/search/index-tables.ts):
 * one row per indexed value, keyed by (resource_type, resource_id) and
 * written in the same statement as the resource; history is not indexed.
 *
 * Sized for millions of resources:
 * - One table, so a write adds one statement part, not one per parameter type.
 * - Equality lookups (tokens, uris, references) go through a 64-bit hash of
 *   `type|param|value` (and `type|param|system|value` for coded tokens),
 *   GENERATED in SQL so chains and _revinclude can compute it from another
 *   row's columns. The btree is (hash, resource_id): a lookup is an
 *   index-only scan that yields ids in order (ORDER BY id LIMIT stops early,
 *   a second criterion is one probe per candidate). As in HAPI FHIR the
 *   64-bit hash is trusted (a collision between two distinct values of one
 *   parameter has odds of about 1 in 10^19).
 * - Ordered lookups (string prefixes, date and number ranges) use a btree on
 *   (hash of `type|param`, value) INCLUDE (resource_id), partial per kind so
 *   each holds only its rows and answers index-only.
 * - (resource_type, resource_id) serves deletes, _include and per-resource
 *   probes; the rows of one resource share the key, so it deduplicates too.
 * - No foreign keys, no sequences: rows can be distributed with the resource.
 */
export class SearchIndex1795624215182 implements MigrationInterface {
  name = 'SearchIndex1795624215182';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION search_hash(text) RETURNS bigint
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT ('x' || substr(md5($1), 1, 16))::bit(64)::bigint $$`);
    await q.query(`
      CREATE TABLE search_index (
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
    await q.query(`CREATE INDEX search_index_resource_idx ON search_index (resource_type, resource_id)`);
    await q.query(`CREATE INDEX search_index_hash_idx ON search_index (hash, resource_id) INCLUDE (shash) WHERE hash IS NOT NULL`);
    await q.query(`CREATE INDEX search_index_string_idx ON search_index (phash, value) INCLUDE (resource_id) WHERE kind = 's'`);
    // span class (under a day, under a year, longer or open) before low: a date window [from, to) reads, per
    // class, low from `from - class limit` to `to` instead of every value before `to`
    await q.query(`CREATE INDEX search_index_date_low_idx ON search_index (phash, span, low) INCLUDE (high, resource_id) WHERE kind = 'd'`);
    await q.query(`CREATE INDEX search_index_date_high_idx ON search_index (phash, high) INCLUDE (low, resource_id) WHERE kind = 'd'`);
    await q.query(`CREATE INDEX search_index_number_idx ON search_index (phash, nlow) INCLUDE (nhigh, resource_id) WHERE kind = 'n'`);
    // (type, param) pairs number in the hundreds to thousands: keep them all in the statistics
    await q.query(`ALTER TABLE search_index ALTER COLUMN phash SET STATISTICS 1000, ALTER COLUMN hash SET STATISTICS 1000`);
    // shash determines hash: without this the planner multiplies their selectivities (system|code looks 1000x rarer than it is)
    await q.query(`CREATE STATISTICS search_index_hash_deps (dependencies) ON hash, shash FROM search_index`);
    await q.query(`CREATE INDEX search_index_narrative_idx ON search_index USING gin (narrative) WHERE kind = 'x'`);
    await q.query(`CREATE INDEX search_index_content_idx ON search_index USING gin (content) WHERE kind = 'x'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE search_index');
    await q.query('DROP FUNCTION search_hash(text)');
  }
}

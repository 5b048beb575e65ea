import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Search index tables (see README "Search"). One row per indexed value,
 * keyed by (resource_type, resource_id) and written in the same statement as
 * the resource; history is not indexed.
 *
 * Sized for millions of resources:
 * - Equality lookups (tokens, references) go through a 64-bit hash of
 *   `type|param|value`, GENERATED in SQL so it costs no bytes on the wire and
 *   chains/_revinclude can compute it from another table's columns. The
 *   btree on that one bigint deduplicates repeated values (codes shared by
 *   many resources), so it stays a fraction of a text index. The real columns
 *   are always re-checked, so a hash collision can never give a wrong match.
 * - Ordered lookups (string prefixes, date/number ranges) use a btree on
 *   (hash of `type|param`, value).
 * - (resource_type, resource_id) indexes serve deletes, _include and
 *   per-resource probes; rows of one resource share the key, so they
 *   deduplicate too.
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
      CREATE TABLE search_token (
        resource_type text NOT NULL,
        resource_id text NOT NULL,
        param text NOT NULL,
        system text,
        value text,
        text text,
        hash bigint GENERATED ALWAYS AS (search_hash(resource_type || '|' || param || '|' || coalesce(value, ''))) STORED
      )`);
    await q.query(`CREATE INDEX search_token_hash_idx ON search_token (hash)`);
    await q.query(`CREATE INDEX search_token_resource_idx ON search_token (resource_type, resource_id)`);

    await q.query(`
      CREATE TABLE search_reference (
        resource_type text NOT NULL,
        resource_id text NOT NULL,
        param text NOT NULL,
        ref text NOT NULL,
        target_type text,
        target_id text,
        hash bigint GENERATED ALWAYS AS (search_hash(resource_type || '|' || param || '|' || ref)) STORED
      )`);
    await q.query(`CREATE INDEX search_reference_hash_idx ON search_reference (hash)`);
    await q.query(`CREATE INDEX search_reference_resource_idx ON search_reference (resource_type, resource_id)`);

    await q.query(`
      CREATE TABLE search_string (
        resource_type text NOT NULL,
        resource_id text NOT NULL,
        param text NOT NULL,
        value text COLLATE "C" NOT NULL,
        exact text,
        phash bigint GENERATED ALWAYS AS (search_hash(resource_type || '|' || param)) STORED
      )`);
    await q.query(`CREATE INDEX search_string_value_idx ON search_string (phash, value)`);
    await q.query(`CREATE INDEX search_string_resource_idx ON search_string (resource_type, resource_id)`);

    await q.query(`
      CREATE TABLE search_date (
        resource_type text NOT NULL,
        resource_id text NOT NULL,
        param text NOT NULL,
        low timestamptz NOT NULL,
        high timestamptz NOT NULL,
        phash bigint GENERATED ALWAYS AS (search_hash(resource_type || '|' || param)) STORED
      )`);
    await q.query(`CREATE INDEX search_date_low_idx ON search_date (phash, low)`);
    await q.query(`CREATE INDEX search_date_high_idx ON search_date (phash, high)`);
    await q.query(`CREATE INDEX search_date_resource_idx ON search_date (resource_type, resource_id)`);

    await q.query(`
      CREATE TABLE search_number (
        resource_type text NOT NULL,
        resource_id text NOT NULL,
        param text NOT NULL,
        low numeric,
        high numeric,
        system text,
        code text,
        phash bigint GENERATED ALWAYS AS (search_hash(resource_type || '|' || param)) STORED
      )`);
    await q.query(`CREATE INDEX search_number_low_idx ON search_number (phash, low)`);
    await q.query(`CREATE INDEX search_number_resource_idx ON search_number (resource_type, resource_id)`);

    await q.query(`
      CREATE TABLE search_text (
        resource_type text NOT NULL,
        resource_id text NOT NULL,
        narrative tsvector,
        content tsvector
      )`);
    await q.query(`CREATE INDEX search_text_narrative_idx ON search_text USING gin (narrative)`);
    await q.query(`CREATE INDEX search_text_content_idx ON search_text USING gin (content)`);
    await q.query(`CREATE INDEX search_text_resource_idx ON search_text (resource_type, resource_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['search_text', 'search_number', 'search_date', 'search_string', 'search_reference', 'search_token']) {
      await q.query(`DROP TABLE ${t}`);
    }
    await q.query('DROP FUNCTION search_hash(text)');
  }
}

import { MigrationInterface, QueryRunner } from 'typeorm';

/** The former generated expressions (SearchIndex and SearchIndexContained migrations), for `down`. */
const GENERATED: Record<string, string> = {
  hash: `bigint GENERATED ALWAYS AS (
    CASE WHEN kind IN ('t', 'r') THEN search_hash(resource_type || '|' || param || '|' || coalesce(value, '')) END) STORED`,
  shash: `bigint GENERATED ALWAYS AS (
    CASE WHEN kind = 't' AND system IS NOT NULL THEN search_hash(resource_type || '|' || param || '|' || system || '|' || coalesce(value, '')) END) STORED`,
  phash: `bigint GENERATED ALWAYS AS (CASE WHEN kind IN ('s', 'd', 'n') THEN search_hash(resource_type || '|' || param) END) STORED`,
  span: `smallint GENERATED ALWAYS AS (
    CASE WHEN kind <> 'd' THEN NULL
         WHEN low = '-infinity' OR high = 'infinity' THEN 2
         WHEN high - low < interval '1 day' THEN 0
         WHEN high - low < interval '366 days' THEN 1
         ELSE 2 END) STORED`,
};

/** The indexes over those columns, per table (recreated by `down`, which drops the columns). */
const INDEXES: Record<string, string[]> = {
  search_index: [
    `CREATE INDEX search_index_hash_idx ON search_index (hash, resource_id) INCLUDE (shash) WHERE hash IS NOT NULL`,
    `CREATE INDEX search_index_string_idx ON search_index (phash, value) INCLUDE (resource_id) WHERE kind = 's'`,
    `CREATE INDEX search_index_date_low_idx ON search_index (phash, span, low) INCLUDE (high, resource_id) WHERE kind = 'd'`,
    `CREATE INDEX search_index_date_high_idx ON search_index (phash, high) INCLUDE (low, resource_id) WHERE kind = 'd'`,
    `CREATE INDEX search_index_number_idx ON search_index (phash, nlow) INCLUDE (nhigh, resource_id) WHERE kind = 'n'`,
    `ALTER TABLE search_index ALTER COLUMN phash SET STATISTICS 1000, ALTER COLUMN hash SET STATISTICS 1000`,
    `CREATE STATISTICS search_index_hash_deps (dependencies) ON hash, shash FROM search_index`,
  ],
  search_index_contained: [
    `CREATE INDEX search_index_contained_hash_idx ON search_index_contained (hash, resource_id) INCLUDE (shash) WHERE hash IS NOT NULL`,
    `CREATE INDEX search_index_contained_string_idx ON search_index_contained (phash, value) INCLUDE (resource_id) WHERE kind = 's'`,
    `CREATE INDEX search_index_contained_date_low_idx ON search_index_contained (phash, span, low) INCLUDE (high, resource_id) WHERE kind = 'd'`,
    `CREATE INDEX search_index_contained_number_idx ON search_index_contained (phash, nlow) INCLUDE (nhigh, resource_id) WHERE kind = 'n'`,
  ],
};

/**
 * The lookup keys of the search index (hash, shash, phash, span) become plain columns that the
 * writer fills (src/fhir/search/index-keys.ts computes exactly the former expressions). Why: for
 * stored generated columns PostgreSQL rebuilds the expressions at every INSERT statement
 * (`ExecInitStoredGenerated`: read from the catalog, `search_hash` inlined, planned), which was
 * measured at about a sixth of the database's CPU per create. Existing values stay (DROP
 * EXPRESSION keeps them, without rewriting the table). `search_hash(text)` stays: search SQL
 * still uses it.
 */
export class SearchIndexKeysFromWriter1795637000000 implements MigrationInterface {
  name = 'SearchIndexKeysFromWriter1795637000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of Object.keys(INDEXES)) {
      await q.query(`ALTER TABLE ${table} ${Object.keys(GENERATED).map((c) => `ALTER COLUMN ${c} DROP EXPRESSION`).join(', ')}`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [table, indexes] of Object.entries(INDEXES)) {
      // dropping the columns drops their indexes and statistics; the generated columns recompute every row
      await q.query(`ALTER TABLE ${table} ${Object.keys(GENERATED).map((c) => `DROP COLUMN ${c}`).join(', ')}`);
      await q.query(`ALTER TABLE ${table} ${Object.entries(GENERATED).map(([c, def]) => `ADD COLUMN ${c} ${def}`).join(', ')}`);
      for (const sql of indexes) await q.query(sql);
    }
  }
}

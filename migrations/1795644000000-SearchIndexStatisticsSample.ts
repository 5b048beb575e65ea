import { MigrationInterface, QueryRunner } from 'typeorm';

/** Columns no plan is estimated from: full text (GIN, default selectivity is enough), display texts, row keys, content. */
const UNESTIMATED: Record<string, string[]> = {
  search_index: ['narrative', 'content', 'text', 'exact', 'row_key'],
  search_index_contained: ['narrative', 'content', 'text', 'exact', 'row_key'],
  resource: ['content'],
  resource_history: ['content'],
};

const set = (table: string, columns: string[], target: number) =>
  `ALTER TABLE ${table} ${columns.map((c) => `ALTER COLUMN ${c} SET STATISTICS ${target}`).join(', ')}`;

/**
 * A smaller `ANALYZE` sample for the search index. PostgreSQL samples 300 rows per unit of the
 * largest statistics target of a table's columns: with `hash` and `phash` at 1,000 (SearchIndex) an
 * `ANALYZE search_index` read and sorted 300,000 rows, 2.3 s of database CPU at 570,000 rows (40,000
 * Synthea resources), and the planner-statistics refresh (src/database/table-statistics.ts) or
 * autovacuum ran it in the middle of bulk imports: a quarter of PostgreSQL's CPU while 60 Synthea
 * bundles were ingested, fhir-load's `synthea_ingest` at 2,750–2,810 resources/s against 3,160–3,450
 * with the refresh off. At 300 (90,000 rows) it takes 0.6 s. The most-common-value lists still
 * hold every (type, parameter) pair of that data set (265 of 306 distinct seen, 204 in the list) and
 * the 300 commonest values; the columns above get no statistics at all (their sort was 8 % of it).
 */
export class SearchIndexStatisticsSample1795644000000 implements MigrationInterface {
  name = 'SearchIndexStatisticsSample1795644000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(set('search_index', ['hash', 'phash'], 300));
    for (const [table, columns] of Object.entries(UNESTIMATED)) await q.query(set(table, columns, 0));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [table, columns] of Object.entries(UNESTIMATED)) await q.query(set(table, columns, -1));
    await q.query(set('search_index', ['hash', 'phash'], 1000));
  }
}

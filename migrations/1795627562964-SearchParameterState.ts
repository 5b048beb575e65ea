import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The custom SearchParameters in force (src/fhir/search/custom-params.ts):
 * one row, replaced by a reindex, read by every server process so they all
 * index and search with the same parameters.
 */
export class SearchParameterState1795627562964 implements MigrationInterface {
  name = 'SearchParameterState1795627562964';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE search_parameter_state (
        id integer PRIMARY KEY CHECK (id = 1),
        version bigint NOT NULL,
        params jsonb NOT NULL,
        updated timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE search_parameter_state');
  }
}

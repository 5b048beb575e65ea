import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The change feed (`_history?_sort=_lastUpdated`) reads resource_history in
 * (tx_id, resource_type, id, version_id) order from a cursor: these indexes
 * make each page an index range scan however long the history is (system
 * level, and per type for type level and `_type`).
 */
export class ChangeFeed1795624990187 implements MigrationInterface {
  name = 'ChangeFeed1795624990187';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX resource_history_tx_idx ON resource_history (tx_id, resource_type, id, version_id)`);
    await q.query(`CREATE INDEX resource_history_type_tx_idx ON resource_history (resource_type, tx_id, id, version_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX resource_history_type_tx_idx');
    await q.query('DROP INDEX resource_history_tx_idx');
  }
}

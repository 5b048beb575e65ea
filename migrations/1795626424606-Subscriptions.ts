import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Subscriptions (R4): how far the change feed has been matched against the
 * active Subscriptions. One row per matcher; it is advanced in the same
 * transaction that enqueues the notifications (pg-boss jobs), so a crash
 * never loses or skips a change: matching resumes from the last committed
 * position (at-least-once). Positions are (tx_id, resource_type, id,
 * version_id) in resource_history, the order of its change-feed index.
 */
export class Subscriptions1795626424606 implements MigrationInterface {
  name = 'Subscriptions1795626424606';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE subscription_cursor (
        name text PRIMARY KEY,
        tx_id xid8 NOT NULL,
        resource_type text NOT NULL,
        id text NOT NULL,
        version_id integer NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE subscription_cursor');
  }
}

import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The subscription matcher's position becomes a pair of snapshots: it
 * hands out the changes of transactions visible in `to_snapshot` but not in
 * `from_snapshot` (pg_visible_in_snapshot), in feed order from
 * (tx_id, resource_type, id, version_id). Unlike a watermark at the oldest
 * running transaction, a long transaction anywhere in the cluster (a big
 * import) no longer holds notifications back, and still none is skipped.
 * The position is disposable: the table is recreated (a matcher restarts at
 * the end of the feed).
 */
export class SubscriptionSnapshots1795628187334 implements MigrationInterface {
  name = 'SubscriptionSnapshots1795628187334';

  async up(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE subscription_cursor');
    await q.query(`
      CREATE TABLE subscription_cursor (
        name text PRIMARY KEY,
        from_snapshot pg_snapshot NOT NULL,
        to_snapshot pg_snapshot,
        tx_id xid8 NOT NULL DEFAULT '0',
        resource_type text NOT NULL DEFAULT '',
        id text NOT NULL DEFAULT '',
        version_id integer NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE subscription_cursor');
    await q.query(`
      CREATE TABLE subscription_cursor (
        name text PRIMARY KEY, tx_id xid8 NOT NULL, resource_type text NOT NULL, id text NOT NULL,
        version_id integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }
}

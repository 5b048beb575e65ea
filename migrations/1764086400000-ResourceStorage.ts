import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Current versions and full history of every resource.
 *
 * - `content` is the resource JSON text exactly as served (with id and meta),
 *   so a read is one index lookup and no JSON work; search values live in the
 *   search index tables, never in queries over content.
 * - No global sequence and no foreign keys: ids are client ids or UUIDs, and
 *   every table can be distributed (Citus) by its leading key columns.
 * - `tx_id` is the writing transaction (xid8); the change feed only hands out
 *   history rows of transactions older than every running one, so a poller
 *   never skips a row that commits late (see HistoryRepository).
 */
export class ResourceStorage1764086400000 implements MigrationInterface {
  name = 'ResourceStorage1764086400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE resource (
        resource_type text NOT NULL,
        id text NOT NULL,
        version_id integer NOT NULL,
        last_updated timestamptz NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        content text,
        PRIMARY KEY (resource_type, id)
      )`);
    await q.query(`CREATE INDEX resource_last_updated_idx ON resource (resource_type, last_updated)`);
    await q.query(`
      CREATE TABLE resource_history (
        resource_type text NOT NULL,
        id text NOT NULL,
        version_id integer NOT NULL,
        last_updated timestamptz NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        method text NOT NULL,
        content text,
        tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        PRIMARY KEY (resource_type, id, version_id)
      )`);
    await q.query(`CREATE INDEX resource_history_time_idx ON resource_history (last_updated)`);
    await q.query(`CREATE INDEX resource_history_type_time_idx ON resource_history (resource_type, last_updated)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE resource_history');
    await q.query('DROP TABLE resource');
  }
}

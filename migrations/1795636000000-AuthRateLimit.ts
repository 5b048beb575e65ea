import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Login/token rate-limit counters, shared by every server process on the
 * database: one row per key (endpoint and client address) and fixed window,
 * upserted once per attempt, deleted once the window is over. UNLOGGED: a
 * counter is worthless after a crash, so no WAL is written for it (and a
 * crash or failover simply starts the windows over). IF NOT EXISTS: development
 * databases may hold the table from this migration under an earlier name.
 */
export class AuthRateLimit1795636000000 implements MigrationInterface {
  name = 'AuthRateLimit1795636000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE UNLOGGED TABLE IF NOT EXISTS auth_rate_limit (
        key text NOT NULL,
        window_start timestamptz NOT NULL,
        hits integer NOT NULL,
        PRIMARY KEY (key, window_start)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE auth_rate_limit');
  }
}

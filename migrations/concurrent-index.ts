import type { QueryRunner } from 'typeorm';

/**
 * Builds an index CONCURRENTLY (the migration must declare `transaction = false`): on a large table a
 * plain CREATE INDEX would hold writes for minutes while the other server processes serve. A build
 * interrupted before leaves an invalid index of that name: dropped first. A database that cannot
 * build concurrently (the embedded one is a single session) builds it the plain way.
 */
export async function createIndexConcurrently(q: QueryRunner, name: string, definition: string): Promise<void> {
  await q.query(`DROP INDEX IF EXISTS ${name}`);
  try {
    await q.query(`CREATE INDEX CONCURRENTLY ${name} ${definition}`);
  } catch {
    await q.query(`DROP INDEX IF EXISTS ${name}`);
    await q.query(`CREATE INDEX ${name} ${definition}`);
  }
}

/** Drops an index CONCURRENTLY (not holding writes), or the plain way where the database cannot (the embedded one). */
export async function dropIndexConcurrently(q: QueryRunner, name: string): Promise<void> {
  try {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  } catch {
    await q.query(`DROP INDEX IF EXISTS ${name}`);
  }
}

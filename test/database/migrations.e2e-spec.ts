import { randomBytes } from 'crypto';
import { migrations } from '../../migrations';
import { Database } from '../../src/database/database';

// Several server processes may start at once on one database (README "Several processes"): the
// migrations run under an advisory lock, each exactly once, and a migration that builds its index
// CONCURRENTLY (outside a transaction) must not deadlock with a process waiting for that lock.
// Two connections of their own on the local PostgreSQL; the embedded database is one session.
const url = process.env.TEST_DATABASE_URL;
const maybe = url ? describe : describe.skip;

maybe('migrations run by several processes at once', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const dbs: Database[] = [];
  afterAll(async () => {
    await dbs[0]?.dropSchema().catch(() => undefined);
    for (const db of dbs) await db.close();
  });

  it('each migration runs once; the index built concurrently is valid', async () => {
    for (let i = 0; i < 2; i++) dbs.push(await Database.connect({ url, schema, poolSize: 2 }));
    const ran = await Promise.all(dbs.map((db) => db.migrate()));
    expect([...ran[0], ...ran[1]].sort()).toEqual(migrations.map((m) => m.name).sort());
    const recorded = await dbs[0].query(`SELECT name, count(*)::int AS n FROM typeorm_migrations GROUP BY name`);
    expect(recorded.rows).toHaveLength(migrations.length);
    expect(recorded.rows.every((r) => r.n === 1)).toBe(true);
    const index = await dbs[0].query(
      `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'search_index_date_resource_idx' AND c.relnamespace = $1::regnamespace`,
      [schema],
    );
    expect(index.rows).toEqual([{ valid: true }]);
  }, 120_000);
});

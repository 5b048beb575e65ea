import { ChildProcess, spawn } from 'child_process';
import { existsSync, readFileSync } from 'fs';
import * as path from 'path';
import { Client } from 'pg';

// Several server processes on one database (src/cluster.ts): `WORKERS=2 npm start` forks two workers that
// share the port, both serve FHIR, and SIGTERM stops them all cleanly. Needs PostgreSQL (TEST_DATABASE_URL):
// the embedded database runs in one process. Runs the built server (dist/), as `npm start` does.
const root = path.join(__dirname, '..', '..');
const main = path.join(root, 'dist', 'src', 'main.js');
const url = process.env.TEST_DATABASE_URL;
const runnable = url && existsSync(main);
if (!runnable) {
  // eslint-disable-next-line no-console
  console.warn(`skipping workers e2e: ${url ? 'dist/ not built (npm run build)' : 'TEST_DATABASE_URL unset (several processes need PostgreSQL)'}`);
}
const maybe = runnable ? describe : describe.skip;

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

maybe('WORKERS: several server processes on one database', () => {
  const schema = `t_workers_${process.pid}`;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const base = `http://127.0.0.1:${port}`;
  let server: ChildProcess;

  beforeAll(async () => {
    const c = new Client({ connectionString: url });
    await c.connect();
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.end();
    server = spawn(process.execPath, [main], {
      env: { ...process.env, DATABASE_URL: url, DATABASE_SCHEMA: schema, WORKERS: '2', PORT: String(port), AUTH_REQUIRED: 'false', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
      if (ok && children(server.pid!).length === 2) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 30_000);

  afterAll(async () => {
    if (server.exitCode === null) server.kill('SIGKILL');
    const c = new Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  it('serves from two worker processes that see each other\'s writes, and stops on SIGTERM', async () => {
    expect(children(server.pid!)).toHaveLength(2);
    const created = await fetch(`${base}/fhir/Patient`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Worker' }] }),
    });
    expect(created.status).toBe(201);
    const { id } = await created.json();
    // many connections spread over both workers (round-robin): every read finds the resource
    const reads = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${base}/fhir/Patient/${id}`, { headers: { Connection: 'close' } }).then((r) => r.status)),
    );
    expect(reads).toEqual(Array(20).fill(200));

    const workers = children(server.pid!);
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of workers) expect(existsSync(`/proc/${pid}`)).toBe(false);
  }, 30_000);
});

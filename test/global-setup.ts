import { EmbeddedPostgres } from '../src/database/embedded-postgres';

/**
 * Without TEST_DATABASE_URL the suite runs on embedded PostgreSQL (PGlite)
 * started here, outside the test sandboxes (PGlite loads its WASM through
 * dynamic import, which jest's VM does not allow). PGlite serves all its
 * connections from one session, so schemas cannot isolate concurrent test
 * files: each jest worker gets its own in-memory instance.
 */
export default async function globalSetup(config: { maxWorkers: number }): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return;
  const instances = await Promise.all(
    Array.from({ length: Math.max(1, config.maxWorkers) }, () => EmbeddedPostgres.start()),
  );
  (globalThis as any).__EMBEDDED_PG__ = instances;
  process.env.TEST_EMBEDDED_URLS = instances.map((i) => i.url).join(',');
}

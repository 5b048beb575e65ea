import 'reflect-metadata';
import { randomBytes } from 'crypto';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createApp } from '../../src/app';
import { AppConfig, loadConfig } from '../../src/config/config';
import { Client } from 'pg';
import { Database } from '../../src/database/database';

export interface TestApp {
  app: NestExpressApplication;
  http: ReturnType<typeof request>;
  db: Database;
  config: AppConfig;
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * Starts the whole server against a real database: TEST_DATABASE_URL (the
 * local PostgreSQL in CI, else the embedded one of test/global-setup.ts), each
 * test file in its own fresh schema, dropped afterwards.
 */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const url = testDatabaseUrl();
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const config = loadConfig({
    PORT: '0',
    PUBLIC_URL: 'http://localhost:8080',
    LOG_LEVEL: 'warn',
    // TEST_DB_POOL_SIZE=1 runs every app on one connection, as the embedded database has: a write that asks
    // the pool for a second connection while it holds one shows up as a hang (it would deadlock a full pool)
    DB_POOL_SIZE: process.env.TEST_DB_POOL_SIZE ?? '10',
    DATABASE_URL: url,
    DATABASE_SCHEMA: schema,
    DATABASE_EMBEDDED: process.env.TEST_DATABASE_URL ? '0' : '1',
    // tests of other modules call the API without tokens; SMART tests pass AUTH_REQUIRED: 'true'
    AUTH_REQUIRED: 'false',
    ...env,
  });
  const app = await createApp(config);
  await app.init();
  const db = app.get(Database);
  return {
    app,
    http: request(app.getHttpServer()),
    db,
    config,
    baseUrl: config.fhirBaseUrl,
    close: async () => {
      // stop the app (and its background jobs) first, then drop its schema on a fresh connection:
      // the one it ran in (a restart test passes the first app's DATABASE_SCHEMA to the second)
      await app.close();
      await dropSchema(url, config.databaseSchema ?? schema).catch(() => undefined);
    },
  };
}

export const FHIR_JSON = 'application/fhir+json';

/** TEST_DATABASE_URL (CI: the local PostgreSQL), else this worker's embedded instance (test/global-setup.ts). */
export function testDatabaseUrl(): string {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
  const urls = (process.env.TEST_EMBEDDED_URLS ?? '').split(',').filter(Boolean);
  if (!urls.length) throw new Error('no test database: set TEST_DATABASE_URL or run through jest (global-setup)');
  const worker = Number(process.env.JEST_WORKER_ID ?? 1);
  return urls[(worker - 1) % urls.length];
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

import { loadConfig } from '../src/config/config';
import { Database } from '../src/database/database';
import { logger } from '../src/logger';

/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database in DATA_DIR). */
async function main(): Promise<void> {
  const config = loadConfig();
  const db = await Database.connect({
    url: config.databaseUrl,
    dataDir: config.dataDir === ':memory:' ? undefined : config.dataDir,
    poolSize: 2,
    schema: config.databaseSchema,
  });
  try {
    const ran = await db.migrate();
    logger.info({ migrations: ran }, ran.length ? 'migrations applied' : 'database is up to date');
  } finally {
    await db.close();
  }
}

main().catch((err) => {
  logger.fatal({ err: err?.message }, 'migration failed');
  process.exit(1);
});

import 'reflect-metadata';
import { createApp } from './app';
import { isPrimary, runPrimary } from './cluster';
import { ConfigError, loadConfig } from './config/config';
import { logger } from './logger';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // the embedded database lives inside its one process: several workers need PostgreSQL
  if (config.workers > 1 && config.databaseUrl && isPrimary()) return runPrimary(config.workers);
  const app = await createApp(config);
  const server = await app.listen(config.port, config.host);
  server.keepAliveTimeout = 65_000;
  logger.info({ url: config.fhirBaseUrl, embedded: !config.databaseUrl, pid: process.pid }, 'FHIR server listening');
}

main().catch((err) => {
  logger.fatal({ err: err?.message }, 'start-up failed');
  process.exit(1);
});

import 'reflect-metadata';
import { createApp } from './app';
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
  const app = await createApp(config);
  const server = await app.listen(config.port, config.host);
  server.keepAliveTimeout = 65_000;
  logger.info({ url: config.fhirBaseUrl, embedded: !config.databaseUrl }, 'FHIR server listening');
}

main().catch((err) => {
  logger.fatal({ err: err?.message }, 'start-up failed');
  process.exit(1);
});

import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { logger } from '../logger';
import { Database } from './database';

@Global()
@Module({
  providers: [
    {
      provide: Database,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        const db = await Database.connect({
          url: config.databaseUrl,
          dataDir: config.dataDir === ':memory:' ? undefined : config.dataDir,
          poolSize: config.dbPoolSize,
          schema: config.databaseSchema,
          urlIsEmbedded: config.databaseUrlIsEmbedded,
        });
        const ran = await db.migrate();
        if (ran.length) logger.info({ migrations: ran }, 'migrations applied');
        return db;
      },
    },
  ],
  exports: [Database],
})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly db: Database) {}

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}

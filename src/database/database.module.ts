import { Global, Inject, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { logger } from '../logger';
import { Database } from './database';
import { TableStatistics } from './table-statistics';

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
          preparedStatements: config.dbPreparedStatements,
          schema: config.databaseSchema,
          urlIsEmbedded: config.databaseUrlIsEmbedded,
        });
        const ran = await db.migrate();
        if (ran.length) logger.info({ migrations: ran }, 'migrations applied');
        return db;
      },
    },
    {
      provide: TableStatistics,
      inject: [Database, APP_CONFIG],
      useFactory: (db: Database, config: AppConfig) => new TableStatistics(db, config.analyzeIntervalMs),
    },
  ],
  exports: [Database, TableStatistics],
})
export class DatabaseModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(TableStatistics) private readonly statistics: TableStatistics,
  ) {}

  onApplicationBootstrap(): void {
    this.statistics.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.statistics.stop();
    await this.db.close();
  }
}

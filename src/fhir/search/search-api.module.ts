import { Inject, Injectable, Module, OnApplicationBootstrap, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { Database } from '../../database/database';
import { JobQueue } from '../../jobs/job-queue';
import { logger } from '../../logger';
import { OperationRegistry } from '../operations/operation-registry';
import { CapabilityService } from '../rest/capability.service';
import { RestModule } from '../rest/rest.module';
import { CustomParameterState } from './custom-params';
import { Reindexer } from './reindex';
import { REINDEX_QUEUE, ReindexOperation } from './reindex.operation';
import { progressRecorder, ReindexStatusOperation } from './reindex-status.operation';
import { contributeSearch } from './search-capabilities';
import { SearchIndexer } from './search-indexer';
import { SearchModule } from './search.module';
import { SearchParameterRegistry } from './search-params';

/** How often a process checks whether a reindex elsewhere changed the custom parameters. */
const STATE_POLL_MS = 30_000;

/**
 * Wires search into the API: the /metadata search section, the `$reindex`
 * operation and its background job, and the custom SearchParameters in force
 * (read at start, re-read periodically so every process follows a reindex).
 */
@Injectable()
export class SearchApi implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly reindexer: Reindexer;
  private poll?: NodeJS.Timeout;
  private stateVersion = -1;

  constructor(
    private readonly db: Database,
    private readonly registry: SearchParameterRegistry,
    indexer: SearchIndexer,
    private readonly capability: CapabilityService,
    private readonly operations: OperationRegistry,
    private readonly queue: JobQueue,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.reindexer = new Reindexer(db, indexer, config.profilesDir);
  }

  async onModuleInit(): Promise<void> {
    await this.refreshCustomParameters();
    this.capability.addContributor({ contribute: (cs) => contributeSearch(cs, this.registry) });
    this.registry.onChange(() => this.capability.invalidate());
    this.operations.register(new ReindexOperation(this.reindexer, this.registry, this.queue));
    this.operations.register(new ReindexStatusOperation(this.queue, this.db));
    this.poll = setInterval(() => void this.refreshCustomParameters().catch((err) => logger.warn({ err: err.message }, 'search parameter state not read')), STATE_POLL_MS);
    this.poll.unref();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.process<{ types?: string[] }>(
      REINDEX_QUEUE,
      { retryLimit: 2, retryDelay: 30, retryBackoff: true, expireInSeconds: 12 * 3600, workers: 1, pollingIntervalSeconds: 10 },
      async (job, signal) => {
        let last = 0;
        const record = progressRecorder(this.db, job.id);
        return this.reindexer.run({
          types: job.data.types,
          signal,
          onProgress: (p) => {
            void record(p, p.done === p.total);
            if (p.overall - last >= 10_000 || p.done === p.total) {
              last = p.overall;
              logger.info({ job: job.id, ...p }, 'reindex progress');
            }
          },
        });
      },
    );
  }

  onModuleDestroy(): void {
    if (this.poll) clearInterval(this.poll);
  }

  private async refreshCustomParameters(): Promise<void> {
    const state = await new CustomParameterState(this.db).read();
    if (state.version === this.stateVersion) return;
    this.stateVersion = state.version;
    if (this.registry.setCustom(state.params)) logger.info({ custom: state.params.length }, 'custom search parameters in force');
  }
}

@Module({ imports: [RestModule, SearchModule], providers: [SearchApi] })
export class SearchApiModule {}

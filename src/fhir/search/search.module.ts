import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig, ConfigError } from '../../config/config';
import { FhirDefinitions } from '../definitions/definitions.module';
import { RESOURCE_INDEXER, ResourceIndexer } from '../storage/storage.types';
import { ValidationModule } from '../validation/validation.module';
import { SearchIndexer } from './search-indexer';
import { SearchParameterRegistry } from './search-params';
import { SearchService } from './search.service';

@Module({
  // the CodeSystems of fhir-profiles/ and the core ones, for token :above/:below (subsumption.ts)
  imports: [ValidationModule],
  providers: [
    { provide: SearchParameterRegistry, inject: [FhirDefinitions], useFactory: (d: FhirDefinitions) => new SearchParameterRegistry(d.data) },
    {
      provide: SearchIndexer,
      inject: [SearchParameterRegistry, APP_CONFIG],
      useFactory: (r: SearchParameterRegistry, c: AppConfig) => new SearchIndexer(r, c.fhirBaseUrl),
    },
    SearchService,
    { provide: RESOURCE_INDEXER, inject: [SearchIndexer], useFactory: (i: SearchIndexer) => indexerFor(i, process.env.SEARCH_INDEXING) },
  ],
  exports: [RESOURCE_INDEXER, SearchIndexer, SearchService, SearchParameterRegistry],
})
export class SearchModule {}

/**
 * `SEARCH_INDEXING=off` writes no index rows (benchmarks only: it measures
 * what indexing costs; searches then find nothing new until a reindex).
 */
function indexerFor(indexer: SearchIndexer, setting: string | undefined): ResourceIndexer {
  if (setting === undefined || setting === '' || setting === 'on') return indexer;
  if (setting !== 'off') throw new ConfigError(`SEARCH_INDEXING must be on or off, got "${setting}"`);
  return { tables: indexer.tables, extract: () => new Map() };
}

import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { FhirDefinitions } from '../definitions/definitions.module';
import { RESOURCE_INDEXER } from '../storage/storage.types';
import { SearchIndexer } from './search-indexer';
import { SearchParameterRegistry } from './search-params';
import { SearchService } from './search.service';

@Module({
  providers: [
    { provide: SearchParameterRegistry, inject: [FhirDefinitions], useFactory: (d: FhirDefinitions) => new SearchParameterRegistry(d.data) },
    {
      provide: SearchIndexer,
      inject: [SearchParameterRegistry, APP_CONFIG],
      useFactory: (r: SearchParameterRegistry, c: AppConfig) => new SearchIndexer(r, c.fhirBaseUrl),
    },
    SearchService,
    { provide: RESOURCE_INDEXER, useExisting: SearchIndexer },
  ],
  exports: [RESOURCE_INDEXER, SearchIndexer, SearchService, SearchParameterRegistry],
})
export class SearchModule {}

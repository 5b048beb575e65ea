import { Module } from '@nestjs/common';
import { RESOURCE_INDEXER } from '../storage/storage.types';
import { SearchIndexer } from './search-indexer';
import { SearchService } from './search.service';

@Module({
  providers: [SearchIndexer, SearchService, { provide: RESOURCE_INDEXER, useExisting: SearchIndexer }],
  exports: [RESOURCE_INDEXER, SearchIndexer, SearchService],
})
export class SearchModule {}

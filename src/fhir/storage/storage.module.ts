import { Module } from '@nestjs/common';
import { Database } from '../../database/database';
import { FhirError } from '../errors';
import { SearchModule } from '../search/search.module';
import { ResourceValidator } from '../validation/resource-validator';
import { ValidationModule } from '../validation/validation.module';
import { StorageService } from './storage.service';
import { RESOURCE_INDEXER, ResourceIndexer } from './storage.types';

@Module({
  imports: [SearchModule, ValidationModule],
  providers: [
    {
      provide: StorageService,
      inject: [Database, RESOURCE_INDEXER, ResourceValidator],
      useFactory: (db: Database, indexer: ResourceIndexer, validator: ResourceValidator) =>
        new StorageService(db, indexer, (resource) => {
          const issues = validator.validate(resource);
          const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
          // malformed content (unknown elements, wrong JSON types, bad formats) is 400; rule violations 422
          if (errors.length) throw new FhirError(errors.some((i) => i.code === 'structure') ? 400 : 422, issues);
        }),
    },
  ],
  exports: [StorageService],
})
export class StorageModule {}

import { Injectable } from '@nestjs/common';
import type { Resource } from 'fhir/r4';
import type { IndexRows, IndexTable, ResourceIndexer } from '../storage/storage.types';

/**
 * Extracts search index rows from resources with the SearchParameter
 * expressions of the official definitions.
 */
@Injectable()
export class SearchIndexer implements ResourceIndexer {
  readonly tables: IndexTable[] = [];

  extract(_resource: Resource): IndexRows {
    return new Map();
  }
}

import { Injectable } from '@nestjs/common';
import { notSupported } from '../errors';
import type { FhirResponse } from '../rest/fhir-response';
import type { RequestContext } from '../rest/request-context';

export interface SearchRequest {
  /** undefined: system-level search over `_type` */
  resourceType?: string;
  /** ordered query parameters, repeats kept */
  params: [string, string][];
  /** compartment search: `Patient/123/Observation` */
  compartment?: { resourceType: string; id: string };
}

/** FHIR search (search.html) over the search index tables. */
@Injectable()
export class SearchService {
  async search(_ctx: RequestContext, _request: SearchRequest): Promise<FhirResponse> {
    throw notSupported(501, 'search is not available yet');
  }
}

import { Injectable } from '@nestjs/common';
import type { Queryable } from '../../database/database';
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

/**
 * Extra criteria the caller's authorization imposes (SMART scopes), applied
 * in SQL to every resource a search touches: matches, _include/_revinclude,
 * chains and _has. For each resource type: `false` = the type is not
 * allowed at all; otherwise a list of alternatives (OR), each a list of
 * search parameter pairs that must all hold (AND). An empty list of
 * alternatives means unrestricted. The internal parameter
 * `_compartment=Patient/123` limits to the Patient compartment.
 */
export interface SearchRestriction {
  criteriaFor(resourceType: string): [string, string][][] | false;
}

export interface Match {
  resourceType: string;
  id: string;
  versionId: number;
}

/** FHIR search (search.html) over the search index tables. */
@Injectable()
export class SearchService {
  async search(_ctx: RequestContext, _request: SearchRequest): Promise<FhirResponse> {
    throw notSupported(501, 'search is not available yet');
  }

  /**
   * The resources of one type matching search parameters (conditional
   * create/update/delete, conditional references, granular scopes). Runs on
   * `q` (a transaction) when given. At most `limit` matches are returned.
   */
  async findMatches(
    _resourceType: string,
    _params: [string, string][],
    _opts: { q?: Queryable; limit?: number; restriction?: SearchRestriction } = {},
  ): Promise<Match[]> {
    throw notSupported(501, 'search is not available yet');
  }
}

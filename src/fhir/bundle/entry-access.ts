import { Injectable } from '@nestjs/common';
import type { Resource } from 'fhir/r4';
import { FhirError } from '../errors';
import type { Queryable } from '../../database/database';
import type { RequestContext } from '../rest/request-context';
import type { SearchRestriction } from '../search/search.service';
import type { StoredVersion } from '../storage/storage.types';
import type { EntryRequest } from './bundle.types';

/**
 * The caller's authorization as batch/transaction entries and conditional
 * interactions apply it. The auth module provides it (SMART scopes); this
 * module only calls it, on the parsed entries it is about to run, so what
 * is checked is exactly what runs.
 */
export interface EntryAccess {
  /** Throws a FhirError (403, or 404 where the resource must not be revealed) when the entry's request is not allowed. */
  authorize(e: EntryRequest): Promise<void>;
  /** What the search of an entry's condition may match (If-None-Exist, conditional update/patch/delete). */
  condition(e: EntryRequest): SearchRestriction | undefined;
  /** What a conditional reference in a resource may resolve to. */
  references(): SearchRestriction | undefined;
  /**
   * Throws 403 when the content about to be written (new resource, update body, patch result) is not allowed.
   * `q`: the write's connection (what it reads must not wait for a second one while the write holds it).
   */
  content(e: EntryRequest, resource: Resource, current: StoredVersion | undefined, q: Queryable): Promise<void>;
}

/** undefined: the caller is not restricted (admin). */
export type EntryAccessProvider = (ctx: RequestContext) => EntryAccess | undefined;

/** Where the auth module registers its EntryAccessProvider (like SearchService.setRestrictionProvider). */
@Injectable()
export class EntryAccessHook {
  private provider?: EntryAccessProvider;

  register(provider: EntryAccessProvider): void {
    this.provider = provider;
  }

  /** The access of a request; undefined for internal calls (no auth). Fails closed when no provider is registered. */
  of(ctx: RequestContext): EntryAccess | undefined {
    if (!ctx.auth) return undefined;
    if (!this.provider) throw FhirError.of(403, 'forbidden', 'no access policy is registered for bundles and conditional interactions');
    return this.provider(ctx);
  }
}

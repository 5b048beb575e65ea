import type { Resource } from 'fhir/r4';
import type { Queryable } from '../database/database';
import type { EntryRequest } from '../fhir/bundle/bundle.types';
import type { EntryAccess } from '../fhir/bundle/entry-access';
import { FhirError } from '../fhir/errors';
import type { RequestContext } from '../fhir/rest/request-context';
import type { StoredVersion } from '../fhir/storage/storage.types';
import type { AuthContext } from './auth-context';
import type { AuthEvents } from './auth-events';
import type { FhirRequest, RequestAuthorizer } from './request-authorizer';

/**
 * The SMART scope policy as the bundle module applies it (its EntryAccess):
 * each parsed batch/transaction entry is authorized as the request it
 * stands for, condition searches run under the token's criteria and the
 * content written is checked once it is final. Built per request by the
 * provider the auth module registers; admins get none (unrestricted).
 */
export class ScopedEntryAccess implements EntryAccess {
  /** entries already reported (a batch redoes its writes one by one after a failed set-based run) */
  private readonly reported = new Set<number>();

  constructor(
    private readonly authorizer: RequestAuthorizer,
    private readonly events: AuthEvents,
    private readonly auth: AuthContext,
    private readonly ctx: RequestContext,
  ) {}

  async authorize(e: EntryRequest): Promise<void> {
    try {
      await this.authorizer.authorize(this.auth, fhirRequestOf(e));
    } catch (err) {
      if (err instanceof FhirError && err.status === 403) this.denied(e, err);
      throw err;
    }
  }

  condition(e: EntryRequest) {
    return this.authorizer.conditionRestriction(this.auth, e.resourceType!, e.method);
  }

  references() {
    return this.authorizer.restriction(this.auth);
  }

  async content(e: EntryRequest, resource: Resource, current: StoredVersion | undefined, q: Queryable): Promise<void> {
    try {
      await this.authorizer.content(this.auth, e.method, resource, current, q);
    } catch (err) {
      if (err instanceof FhirError && err.status === 403) this.denied(e, err);
      throw err;
    }
  }

  /** Logged like a refused HTTP request; the audit trail records it with the entry (src/audit/bundle-entries.ts). */
  private denied(e: EntryRequest, err: FhirError): void {
    err.headers['WWW-Authenticate'] = `Bearer realm="fhir", error="insufficient_scope"`;
    if (this.reported.has(e.index)) return;
    this.reported.add(e.index);
    this.events.emit({
      type: 'access-denied',
      outcome: 'failure',
      reason: err.message,
      clientId: this.auth.clientId,
      username: this.auth.username,
      fhirUser: this.auth.fhirUser,
      patient: this.auth.patient,
      tokenId: this.auth.tokenId,
      address: this.ctx.remoteAddress,
      requestId: this.ctx.requestId,
      request: `${e.method} ${e.resourceType ?? ''}${e.id ? `/${e.id}` : ''} (Bundle.entry[${e.index}])`,
    });
  }
}

/** A parsed entry as the request it stands for (path segments re-encoded, so the policy splits them back exactly). */
export function fhirRequestOf(e: EntryRequest): FhirRequest {
  const segments = [e.resourceType, e.id, ...e.rest].filter((x): x is string => x !== undefined);
  return {
    method: e.method,
    path: segments.map(encodeURIComponent).join('/'),
    query: e.params,
    body: e.method === 'PATCH' ? e.patch : e.resource,
    ifNoneExist: e.ifNoneExist && new URLSearchParams(e.ifNoneExist).toString(),
  };
}

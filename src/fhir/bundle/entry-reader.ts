import { Injectable } from '@nestjs/common';
import type { Queryable } from '../../database/database';
import { badRequest, notSupported } from '../errors';
import { CapabilityService } from '../rest/capability.service';
import type { FhirResponse } from '../rest/fhir-response';
import { HistoryService } from '../rest/history.service';
import { InteractionsService } from '../rest/interactions.service';
import type { RequestContext } from '../rest/request-context';
import { SearchService } from '../search/search.service';
import type { EntryRequest } from './bundle.types';

type Answer = (ctx: RequestContext, q?: Queryable) => Promise<FhirResponse>;

/** How a module serving a type from its own store (the audit trail) answers a GET entry on it; undefined: not its entry. */
export type OwnTypeReader = (e: EntryRequest) => Answer | undefined;

/**
 * GET/HEAD entries of a batch or transaction: read, vread, search
 * (type, system, compartment), history and metadata, answered by the same
 * services as the REST API. A transaction's entries run on its connection
 * (`q`), so they see its own writes.
 */
@Injectable()
export class EntryReader {
  private readonly ownTypes = new Map<string, OwnTypeReader>();

  constructor(
    private readonly interactions: InteractionsService,
    private readonly history: HistoryService,
    private readonly search: SearchService,
    private readonly capability: CapabilityService,
  ) {}

  /** Throws 400 for a URL that no read interaction answers (checked before a transaction writes). */
  check(e: EntryRequest): void {
    this.route(e);
  }

  async read(ctx: RequestContext, e: EntryRequest, q?: Queryable): Promise<FhirResponse> {
    const r = await this.route(e)(ctx, q);
    return e.method === 'HEAD' ? { status: r.status, headers: r.headers } : r;
  }

  /**
   * `type` is served by a module of its own (AuditEvent: src/audit), not from the resource tables:
   * its GET entries (`Type…`, and `Patient/x/Type` compartment searches) go to `reader`, as the
   * same requests over REST go to that module's controller.
   */
  serveOwnType(type: string, reader: OwnTypeReader): void {
    this.ownTypes.set(type, reader);
  }

  private route(e: EntryRequest): Answer {
    const own = this.ownTypes.get((e.id !== undefined && e.rest.length === 1 ? e.rest[0] : e.resourceType) ?? '')?.(e);
    if (own) return own;
    const { resourceType: type, id, rest, params } = e;
    if (rest.some((s) => s.startsWith('$')) || (type === undefined && rest[0]?.startsWith('$'))) {
      throw notSupported(400, 'operations are not supported inside a batch or transaction');
    }
    if (type === undefined) {
      if (rest.length === 0) return (ctx, q) => this.search.search(ctx, { params, q });
      if (rest.length === 1 && rest[0] === '_history') return (ctx, q) => this.history.history(ctx, params, undefined, undefined, q);
      if (rest.length === 1 && rest[0] === 'metadata') {
        return async () => ({ status: 200, body: this.capability.capabilityStatement() });
      }
      throw badRequest(`request.url ${e.url} is not a read interaction`);
    }
    this.interactions.assertType(type);
    if (id === undefined) {
      if (rest.length === 0) return (ctx, q) => this.search.search(ctx, { resourceType: type, params, q });
      if (rest.length === 1 && rest[0] === '_history') return (ctx, q) => this.history.history(ctx, params, type, undefined, q);
      throw badRequest(`request.url ${e.url} is not a read interaction`);
    }
    if (rest.length === 0) {
      return (_ctx, q) => this.interactions.read(type, id, { ifNoneMatch: e.ifNoneMatch, ifModifiedSince: e.ifModifiedSince }, undefined, q);
    }
    if (rest[0] === '_history') {
      if (rest.length === 1) return (ctx, q) => this.history.history(ctx, params, type, id, q);
      if (rest.length === 2) return (_ctx, q) => this.interactions.vread(type, id, rest[1], undefined, q);
    }
    if (rest.length === 1) {
      this.interactions.assertType(rest[0]);
      return (ctx, q) => this.search.search(ctx, { resourceType: rest[0], params, compartment: { resourceType: type, id }, q });
    }
    throw badRequest(`request.url ${e.url} is not a read interaction`);
  }
}

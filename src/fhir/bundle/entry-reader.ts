import { Injectable } from '@nestjs/common';
import type { Queryable } from '../../database/database';
import { badRequest, notSupported } from '../errors';
import { OperationRegistry, OperationTarget } from '../operations/operation-registry';
import { CapabilityService } from '../rest/capability.service';
import type { FhirResponse } from '../rest/fhir-response';
import { HistoryService } from '../rest/history.service';
import { InteractionsService } from '../rest/interactions.service';
import type { RequestContext } from '../rest/request-context';
import { SearchService } from '../search/search.service';
import type { EntryRequest } from './bundle.types';
import { entryOperation } from './entry-operation';

type Answer = (ctx: RequestContext, q?: Queryable) => Promise<FhirResponse>;

/** How a module serving a type from its own store (the audit trail) answers a GET entry on it; undefined: not its entry. */
export type OwnTypeReader = (e: EntryRequest) => Answer | undefined;

/**
 * GET/HEAD entries of a batch or transaction: read, vread, search
 * (type, system, compartment), history and metadata, answered by the same
 * services as the REST API. A transaction's entries run on its connection
 * (`q`), so they see its own writes. Also the operation entries of a batch
 * (`GET Patient/1/$everything`, `POST Observation/$validate`), run by the
 * OperationRegistry as over REST.
 */
@Injectable()
export class EntryReader {
  private readonly ownTypes = new Map<string, OwnTypeReader>();

  constructor(
    private readonly interactions: InteractionsService,
    private readonly history: HistoryService,
    private readonly search: SearchService,
    private readonly capability: CapabilityService,
    private readonly operations: OperationRegistry,
  ) {}

  /**
   * Throws 400 for a URL that no read interaction answers, checked before a transaction writes.
   * Operations are batch entries only: they run on connections of their own, so inside a
   * transaction they would not see its writes, and one that writes would not be part of it.
   */
  check(e: EntryRequest): void {
    this.route(e); // an unknown operation is its 404, as over REST
    if (entryOperation(e)) throw badRequest(`${e.method} ${e.url}: operations run as batch entries, not inside a transaction`);
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
    const operation = entryOperation(e);
    if (operation) return this.operation(e, operation);
    const { resourceType: type, id, rest, params } = e;
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

  /** An operation entry, as the REST controller runs it (same checks: 404 unknown, 405 GET on one that writes). */
  private operation(e: EntryRequest, t: OperationTarget): Answer {
    if (t.resourceType) this.interactions.assertType(t.resourceType);
    const method = e.method === 'HEAD' ? 'GET' : e.method;
    const op = this.operations.resolve(t, method);
    if (op.inBundle === false) throw notSupported(400, `$${op.name} cannot run as a batch entry (call it over REST)`);
    const path = [t.resourceType, t.id, ...e.rest].filter((s): s is string => s !== undefined).map(encodeURIComponent).join('/');
    const url = `/${path}${e.params.length ? `?${new URLSearchParams(e.params)}` : ''}`;
    return async (ctx) => {
      // the Bundle's HTTP request is audited with an AuditEvent per entry (src/audit/bundle-entries.ts); a version the
      // operation writes records its own in its statement, which must not mark the Bundle's request as recorded
      const r = await op.invoke({ ctx: { ...ctx, audit: undefined }, level: t.level, resourceType: t.resourceType, id: t.id, versionId: t.versionId, params: e.params, body: e.resource, method, url });
      if (!r) throw new Error(`$${op.name} answered no response`);
      return r;
    };
  }
}

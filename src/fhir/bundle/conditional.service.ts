import { Injectable, Optional } from '@nestjs/common';
import { AuditService } from '../../audit/audit.service';
import { badRequest, issue, operationOutcome } from '../errors';
import type { FhirResponse } from '../rest/fhir-response';
import { InteractionsService } from '../rest/interactions.service';
import type { RequestContext } from '../rest/request-context';
import { readPatch } from '../patch/resource-patch';
import type { EntryOutcome, EntryRequest, Params } from './bundle.types';
import { parseQuery } from './conditions';
import { EntryAccessHook } from './entry-access';
import { TransactionEngine } from './transaction-engine';

/**
 * Conditional create (`If-None-Exist`), update (`PUT [type]?search`), patch
 * and delete (http.html §3.1.0.4.3, §3.1.0.5, §3.1.0.7.1, §3.1.0.8.1).
 *
 * Each runs as a one-entry transaction of the TransactionEngine: a
 * transaction-scoped advisory lock on a hash of the normalized condition is
 * taken first, then the search, then the write, then COMMIT releases the
 * lock. Two requests with the same condition therefore run one after the
 * other, and the second one's search (a new snapshot under READ COMMITTED)
 * sees what the first one wrote: 20 parallel identical conditional creates
 * make exactly one resource.
 */
@Injectable()
export class ConditionalService {
  constructor(
    private readonly engine: TransactionEngine,
    private readonly interactions: InteractionsService,
    private readonly access: EntryAccessHook,
    @Optional() private readonly audit?: AuditService,
  ) {}

  /** Conditional create: 201 when nothing matched, 200 with the match, 412 when several match. */
  async create(ctx: RequestContext, resourceType: string, body: unknown, ifNoneExist: string): Promise<FhirResponse> {
    const resource = this.interactions.checkBody(resourceType, body);
    const condition = parseQuery(ifNoneExist);
    if (!condition.length) throw badRequest('If-None-Exist has no search parameters');
    return this.write(ctx, { ...this.entry('POST', resourceType, []), resource, ifNoneExist: condition });
  }

  /** Conditional update: no match creates, one match is updated, several are 412. */
  async update(ctx: RequestContext, resourceType: string, params: Params, body: unknown, ifMatch?: number): Promise<FhirResponse> {
    const resource = this.interactions.checkBody(resourceType, body);
    return this.write(ctx, { ...this.entry('PUT', resourceType, params), resource, ifMatch });
  }

  /** Conditional patch: exactly one match is patched; none 404, several 412. */
  async patch(ctx: RequestContext, resourceType: string, params: Params, body: unknown, ifMatch?: number): Promise<FhirResponse> {
    this.interactions.assertType(resourceType);
    return this.write(ctx, { ...this.entry('PATCH', resourceType, params), patch: readPatch(body), ifMatch });
  }

  /**
   * Conditional delete: the matches are deleted (none: nothing to do, 204);
   * more than CONDITIONAL_DELETE_MAX matches (default 1) is 412.
   */
  async delete(ctx: RequestContext, resourceType: string, params: Params): Promise<FhirResponse> {
    this.interactions.assertType(resourceType);
    const [o] = await this.run(ctx, this.entry('DELETE', resourceType, params));
    const headers: Record<string, string> = o.version && o.deletedCount === 1 ? { ETag: `W/"${o.version.versionId}"` } : {};
    if (ctx.prefer.return === 'OperationOutcome') {
      const text = `deleted ${o.deletedCount ?? 0} ${resourceType} resource(s) matching the condition`;
      return { status: 200, headers, body: operationOutcome([issue('informational', text, undefined, 'information')]) };
    }
    return { status: 204, headers };
  }

  private entry(method: EntryRequest['method'], resourceType: string, params: Params): EntryRequest {
    if (method !== 'POST' && !params.length) throw badRequest(`conditional ${method} needs search parameters in the URL`);
    return { index: 0, method, url: resourceType, resourceType, rest: [], params };
  }

  private async write(ctx: RequestContext, e: EntryRequest): Promise<FhirResponse> {
    const [o] = await this.run(ctx, e);
    return this.interactions.writeResponse(ctx, { stored: o.version!, created: o.status === 201, changed: o.status !== 200 || e.method !== 'POST' });
  }

  /**
   * One-entry transaction; its AuditEvent is written in the same statement as
   * the version. The scopes bound the condition's search and the content
   * (the auth guard has checked the interaction on the type).
   */
  private async run(ctx: RequestContext, e: EntryRequest): Promise<EntryOutcome[]> {
    const mode = { linkEntries: false, nameEntries: false, extras: this.audit?.writeExtras(ctx), access: this.access.of(ctx) };
    const outcomes = await this.engine.write([e], mode);
    const o = outcomes[0];
    const changed = e.method === 'POST' ? o.status === 201 : e.method === 'DELETE' ? !!o.deletedCount : true;
    this.audit?.recordedInStatement(ctx, changed);
    return outcomes;
  }
}

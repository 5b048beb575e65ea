import { Inject, Injectable, Optional } from '@nestjs/common';
import { AuditService } from '../../audit/audit.service';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { logger } from '../../logger';
import { bundleJson, EntryJson } from '../bundle-json';
import { FhirDefinitions } from '../definitions/definitions.module';
import { FhirError, issue, operationOutcome } from '../errors';
import type { FhirResponse } from '../rest/fhir-response';
import type { RequestContext } from '../rest/request-context';
import { entryError, parseBundle } from './bundle-parser';
import { EntryOutcome, EntryRequest, statusLine } from './bundle.types';
import { EntryAccess, EntryAccessHook } from './entry-access';
import { entryOperation } from './entry-operation';
import { EntryReader } from './entry-reader';
import { TransactionEngine } from './transaction-engine';
import { transactionReads } from './transaction-reads';
import type { CallerWriteMode } from './write-run';

/** GET/HEAD entries and operations: answered by the EntryReader after the writes */
const isRead = (e: EntryRequest) => e.method === 'GET' || e.method === 'HEAD' || entryOperation(e) !== undefined;

/**
 * `POST [base]` with a batch or transaction Bundle (http.html §3.1.0.11).
 *
 * transaction: every entry in one database transaction (the engine
 * applies the spec's order: deletes, creates, updates, with references
 * rewritten, then the GET/HEAD entries on the same connection before the
 * commit); any failing entry, a read too, fails the whole Bundle with the
 * entry named and nothing is committed. batch: entries are independent; all writes
 * are first tried as one set-based run, and if any entry fails they are
 * redone one by one so each gets its own status.
 *
 * Authorization (the caller's EntryAccess) is checked on every parsed entry
 * before anything runs: a refused entry refuses a transaction, and gets its
 * own 403/404 entry in a batch-response while the other entries run.
 */
@Injectable()
export class BundleService {
  constructor(
    private readonly engine: TransactionEngine,
    private readonly reader: EntryReader,
    private readonly definitions: FhirDefinitions,
    private readonly access: EntryAccessHook,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly audit?: AuditService,
  ) {}

  async process(ctx: RequestContext, body: unknown): Promise<FhirResponse> {
    const parsed = parseBundle(body, {
      baseUrl: ctx.baseUrl,
      maxEntries: this.config.maxBundleEntries,
      isResourceType: (t) => this.definitions.isResourceType(t),
    });
    const outcomes = new Map<number, EntryOutcome>();
    for (const [i, error] of parsed.errors) outcomes.set(i, { status: error.status, error });
    const access = this.access.of(ctx);
    const allowed = access ? await this.authorized(parsed.entries, access, parsed.type === 'transaction', outcomes) : parsed.entries;
    const writes = allowed.filter((e) => !isRead(e));
    const reads = allowed.filter(isRead);
    const extras = this.audit?.writeExtras(ctx);
    if (parsed.type === 'transaction') {
      // a GET that cannot be answered fails the transaction before anything is written
      for (const e of reads) this.named(e, () => this.reader.check(e));
      const mode = { linkEntries: true, nameEntries: true, extras, access };
      const results = await this.engine.write(writes, mode, reads.length ? transactionReads(this.reader, ctx, reads, outcomes) : undefined);
      writes.forEach((e, i) => outcomes.set(e.index, results[i]));
    } else {
      await this.batchWrites(writes, outcomes, { linkEntries: false, nameEntries: true, extras, access });
      for (const e of reads) outcomes.set(e.index, await this.readEntry(ctx, e));
    }
    const count = parsed.entries.length + parsed.errors.size;
    const entry: EntryJson[] = [];
    for (let i = 0; i < count; i++) entry.push(this.responseEntry(ctx, outcomes.get(i)!));
    return { status: 200, body: bundleJson({ type: `${parsed.type}-response`, entry }) };
  }

  /**
   * The entries the caller may run (http.html §3.1.0.11.1: batch entries are
   * independent, so a refused one is answered on its own; a transaction is
   * refused as a whole, naming the entry).
   */
  private async authorized(
    entries: EntryRequest[],
    access: EntryAccess,
    transaction: boolean,
    outcomes: Map<number, EntryOutcome>,
  ): Promise<EntryRequest[]> {
    const allowed: EntryRequest[] = [];
    for (const e of entries) {
      try {
        await access.authorize(e);
        allowed.push(e);
      } catch (err) {
        if (transaction || !(err instanceof FhirError)) throw err instanceof FhirError ? entryError(e.index, err) : err;
        outcomes.set(e.index, this.failed(e, err));
      }
    }
    return allowed;
  }

  private async batchWrites(writes: EntryRequest[], outcomes: Map<number, EntryOutcome>, mode: CallerWriteMode): Promise<void> {
    try {
      const results = await this.engine.write(writes, mode);
      writes.forEach((e, i) => outcomes.set(e.index, results[i]));
      return;
    } catch {
      // some entry failed (or the set could not be stored): nothing was written; redo each on its own
    }
    for (const e of writes) {
      try {
        const [r] = await this.engine.write([e], mode);
        outcomes.set(e.index, r);
      } catch (err) {
        outcomes.set(e.index, this.failed(e, err));
      }
    }
  }

  private async readEntry(ctx: RequestContext, e: EntryRequest): Promise<EntryOutcome> {
    try {
      const response = await this.reader.read(ctx, e);
      return { status: response.status, response };
    } catch (err) {
      // batch entries are independent: a failing read is reported in its entry
      return this.failed(e, err);
    }
  }

  private failed(e: EntryRequest, err: unknown): EntryOutcome {
    if (err instanceof FhirError) {
      const named = entryError(e.index, err);
      return { status: named.status, error: named };
    }
    logger.error({ err: (err as Error)?.message, entry: e.index }, 'batch entry failed');
    return { status: 500, error: FhirError.of(500, 'exception', `Bundle.entry[${e.index}]: internal error`) };
  }

  private named(e: EntryRequest, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      throw err instanceof FhirError ? entryError(e.index, err) : err;
    }
  }

  /** Bundle.entry of a batch-response / transaction-response. */
  private responseEntry(ctx: RequestContext, o: EntryOutcome): EntryJson {
    if (o.error) return { response: { status: statusLine(o.status), outcome: o.error.toOperationOutcome() as any } };
    if (o.response) {
      const h = o.response.headers ?? {};
      const entry: EntryJson = {
        response: {
          status: statusLine(o.status),
          location: h.Location,
          etag: h.ETag,
          lastModified: h['Last-Modified'] ? new Date(h['Last-Modified']).toISOString() : undefined,
        },
      };
      if (o.response.body !== undefined) entry.resource = o.response.body;
      return entry;
    }
    const v = o.version;
    const entry: EntryJson = { response: { status: statusLine(o.status) } };
    if (!v) return entry;
    const path = `${v.resourceType}/${v.id}`;
    if (!v.deleted) entry.response!.location = `${path}/_history/${v.versionId}`;
    entry.response!.etag = `W/"${v.versionId}"`;
    entry.response!.lastModified = v.lastUpdated.toISOString();
    if (ctx.prefer.return === 'representation' && v.content && !v.deleted) {
      entry.fullUrl = `${ctx.baseUrl}/${path}`;
      entry.resource = v.content;
    } else if (ctx.prefer.return === 'OperationOutcome') {
      const text = `${statusLine(o.status)}: ${path} version ${v.versionId}`;
      entry.response!.outcome = operationOutcome([issue('informational', text, undefined, 'information')]) as any;
    }
    return entry;
  }
}

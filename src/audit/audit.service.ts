import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Database } from '../database/database';
import type { RequestContext } from '../fhir/rest/request-context';
import type { WriteExtra } from '../fhir/storage/storage.types';
import { logger } from '../logger';
import { CLIENT_ENTITY, securitySubtypeCode, securityType } from './audit-codes';
import { AuditSealer } from './audit-sealer';
import { truncate } from './audit-values';
import { AUDIT_CONFIG, AuditConfig } from './audit.config';
import { AuditRepository, WriteAgent } from './audit.repository';
import type { AuditRecord, SecurityEvent } from './audit.types';
import { GroupCommit } from './group-commit';

const DONE = Promise.resolve();
const NOTHING = () => undefined;

/** Who is acting, from the SMART authorization (undefined: internal or anonymous). */
export function agentOf(auth: AuthContext | undefined): Pick<AuditRecord, 'clientId' | 'userRef' | 'userName' | 'tokenId'> {
  if (!auth) return {};
  return { clientId: auth.clientId, userRef: auth.fhirUser, userName: auth.username, tokenId: auth.tokenId };
}

/**
 * The audit trail. Every access becomes one `audit_event` row (IHE BALP),
 * durable before the response leaves:
 * - writes put their row in the write statement itself (`writeExtras`);
 * - everything else goes through `record`, a group commit: concurrent
 *   requests share one multi-row INSERT, each awaiting its durability;
 * - security events (auth module) through `recordSecurityEvent`.
 * The sealer chains committed rows into the tamper-evident hash chain.
 */
@Injectable()
export class AuditService implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly repository: AuditRepository;
  /** this server's FHIR base URL: references on it are to its own resources */
  readonly baseUrl: string;
  readonly sealer: AuditSealer;
  private readonly commits: GroupCommit<AuditRecord>;
  private readonly writeSources: ((ctx: RequestContext | undefined) => WriteExtra | undefined)[] = [];

  constructor(
    private readonly db: Database,
    @Inject(AUDIT_CONFIG) readonly config: AuditConfig,
    @Inject(APP_CONFIG) app: AppConfig,
  ) {
    this.baseUrl = app.fhirBaseUrl;
    this.repository = new AuditRepository(app.fhirBaseUrl);
    this.sealer = new AuditSealer(db);
    const prepared = !db.isEmbedded && !app.databaseUrlIsEmbedded;
    // everything arriving while an INSERT is in flight shares the next one; requests being processed
    // are announced (`expectRecord`) so that a statement waits, up to groupCommitMs, for those about to join.
    // One statement at a time: two in flight made smaller statements and left the machine idler (reads at
    // c=32 on a fast host, alternating slices: 10,870 → 11,940/s, c=16 and c=64 +5 %; a slower host measured both equal)
    this.commits = new GroupCommit((records) => this.insertRecords(records, prepared), {
      maxBatch: 1000,
      maxInFlight: 1,
      maxWaitMs: config.groupCommitMs,
    });
  }

  /**
   * One statement for the batch; if the database refuses a value in it (SQLSTATE classes 22 and 23:
   * data, constraints), each row again on its own, so that only the request whose row cannot be
   * stored fails, not every request that shared its statement. Any other failure (the database
   * unreachable) fails them all: requests fail rather than go unaudited.
   */
  private async insertRecords(records: AuditRecord[], prepared: boolean): Promise<void | unknown[]> {
    try {
      await this.repository.insertMany(this.db.pool, records, prepared);
    } catch (err) {
      const code = String((err as { code?: unknown })?.code ?? '');
      if (records.length === 1 || !(code.startsWith('22') || code.startsWith('23'))) throw err;
      logger.warn({ code, rows: records.length }, 'audit batch refused by the database: writing its rows one by one');
      return Promise.all(records.map((r) => this.repository.insertMany(this.db.pool, [r], prepared).then(() => undefined, (e: unknown) => e ?? new Error('audit row refused'))));
    }
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  onApplicationBootstrap(): void {
    if (this.enabled) this.sealer.start(this.config.sealIntervalMs);
  }

  /** SIGTERM: the HTTP server has drained; write what is queued and seal it before the database closes. */
  async onApplicationShutdown(): Promise<void> {
    await this.commits.drain();
    await this.sealer.stop();
    if (this.enabled) await this.sealer.seal().catch((err) => logger.warn({ err: err?.message }, 'final audit seal failed'));
  }

  /**
   * Records one event; resolves once its row is committed. Rejects when the
   * row could not be written: the caller must then fail the request.
   */
  record(event: AuditRecord): Promise<void> {
    if (!this.enabled) return DONE;
    return this.commits.add(event);
  }

  /**
   * A request that will `record` its event is being processed: returns the
   * function to call when it records it, or when it will not (group commit
   * sizing, see `GroupCommit.announce`).
   */
  expectRecord(): () => void {
    return this.enabled ? this.commits.announce() : NOTHING;
  }

  /** Requests announced by `expectRecord` and not settled yet. */
  get recordsInProgress(): number {
    return this.commits.announced;
  }

  /**
   * Login, logout, token issued / refused / refreshed / revoked, access
   * denied, client registration (auth module). Await it before answering.
   */
  recordSecurityEvent(e: SecurityEvent): Promise<void> {
    return this.record({
      recorded: new Date(),
      type: securityType(e.kind),
      subtype: [securitySubtypeCode(e.kind)],
      action: 'E',
      outcome: e.success ? 0 : 4,
      outcomeDesc: e.description ? truncate(e.description) : e.success ? undefined : 'refused',
      clientId: e.clientId,
      userRef: e.fhirUser,
      userName: e.username,
      tokenId: e.tokenId,
      network: e.network,
      requestId: e.requestId,
      ...(e.registeredClientId ? { entityType: CLIENT_ENTITY, entityId: e.registeredClientId } : {}),
      patient: e.patient ? [e.patient] : [],
    });
  }

  /**
   * Extras for a resource write (`StorageService` `opts.extras`, or
   * `ResourceRepository.insertVersions/updateVersions(q, writes, extras)`):
   * one AuditEvent per version the statement writes, in the same statement,
   * and what other modules record about the writer (`addWriteExtra`).
   * Undefined when there is nothing to add.
   */
  writeExtras(ctx: RequestContext | undefined): WriteExtra[] | undefined {
    const extras: WriteExtra[] = [];
    if (this.enabled) {
      const agent: WriteAgent = agentOf(ctx?.auth); // a fresh object: completed below, not spread (see audit.repository.ts)
      agent.network = ctx?.remoteAddress;
      agent.requestId = ctx?.requestId;
      extras.push(this.repository.writeExtra(agent));
    }
    for (const source of this.writeSources) {
      const extra = source(ctx);
      if (extra) extras.push(extra);
    }
    return extras.length ? extras : undefined;
  }

  /**
   * Another module's part of every API write statement, made from the
   * request (e.g. who wrote a Subscription): every write path that audits in
   * its statement carries it, whether or not auditing is on.
   */
  addWriteExtra(source: (ctx: RequestContext | undefined) => WriteExtra | undefined): void {
    this.writeSources.push(source);
  }

  /** After a write through `writeExtras`: its AuditEvent is already stored, the response needs none. */
  recordedInStatement(ctx: RequestContext | undefined, changed = true): void {
    if (changed && ctx?.audit && this.enabled) ctx.audit.recordedInStatement = true;
  }

  /** Writes everything queued (tests, shutdown). */
  flush(): Promise<void> {
    return this.commits.drain();
  }
}

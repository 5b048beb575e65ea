import { Injectable, OnApplicationBootstrap, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import type { Resource, Subscription } from 'fhir/r4';
import { AuditService } from '../../audit/audit.service';
import type { AuthContext } from '../../auth/auth-context';
import { RequestAuthorizer } from '../../auth/request-authorizer';
import { bodyAllowed } from '../../auth/scope-policy';
import type { Queryable } from '../../database/database';
import { Database } from '../../database/database';
import { JobQueue } from '../../jobs/job-queue';
import { logger } from '../../logger';
import { FhirDefinitions } from '../definitions/definitions.module';
import { SearchRestriction, SearchService } from '../search/search.service';
import { StorageService } from '../storage/storage.service';
import { ChangeFeedRepository, FeedChange } from './change-feed.repository';
import { criteriaPrefilter } from './criteria-prefilter';
import { SubscriptionEvents } from './subscription-events';
import { ActiveSubscription, readSubscription } from './subscription-model';
import { ownerWriteExtra, policyOf, SubscriptionOwner } from './subscription-owner';

export const NOTIFY_QUEUE = 'subscription-notify';

/** A rest-hook notification to deliver: this version of this resource matched this Subscription. */
export interface Notification {
  subscriptionId: string;
  resourceType: string;
  id: string;
  versionId: number;
}

/**
 * An active Subscription with the cheap pre-check of its criteria and the
 * access of whoever wrote it (undefined: unrestricted).
 */
type Matchable = ActiveSubscription & {
  prefilter: (json: string) => boolean;
  restriction?: SearchRestriction;
  policy?: AuthContext;
};

const CURSOR = 'subscriptions';
const TICK_MS = 200;
/** With no active Subscription the matcher only looks for new ones (and keeps its position current). */
const IDLE_TICK_MS = 1000;
const BATCH = 2000;
const ID_CHUNK = 500;

/**
 * Matches every committed change against the active Subscriptions' criteria
 * (through the search engine, `criteria + _id=<changed ids>`, so criteria
 * mean exactly what a search means) under the access of whoever wrote the
 * Subscription (its SearchRestriction: a Subscription never discloses more
 * than its author may read), and enqueues one notification job per
 * match. The jobs and the new feed position commit together: a crash
 * replays from the last position (at-least-once), never skips. Every 200 ms,
 * in whichever process holds the cursor lock. It also moves Subscriptions
 * from `requested` to `active` (or `error` with the reason) and past their
 * `end` to `off`.
 */
@Injectable()
export class SubscriptionMatcher implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly feed = new ChangeFeedRepository();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private idle = false;
  /** Subscriptions already read and checked, by id (re-checked when their version changes) */
  private readonly checked = new Map<string, Matchable & { versionId: number }>();
  private current?: Promise<void>;

  constructor(
    private readonly db: Database,
    private readonly storage: StorageService,
    private readonly search: SearchService,
    private readonly queue: JobQueue,
    private readonly events: SubscriptionEvents,
    private readonly definitions: FhirDefinitions,
    private readonly authorizer: RequestAuthorizer,
    @Optional() private readonly audit?: AuditService,
  ) {}

  onModuleInit(): void {
    // every API write of a Subscription records its writer in the same statement (subscription_owner)
    this.audit?.addWriteExtra(ownerWriteExtra);
  }

  onApplicationBootstrap(): void {
    // (after the deliverers have created their queue)
    this.schedule(TICK_MS);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current?.catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.current = this.tick()
        .then((more) => this.schedule(more ? 0 : this.idle ? IDLE_TICK_MS : TICK_MS))
        .catch((err) => {
          logger.warn({ err: err?.message }, 'subscription matching failed; retrying');
          this.schedule(TICK_MS * 5);
        });
    }, ms);
  }

  /** One round; true when more changes are waiting. */
  async tick(): Promise<boolean> {
    const subscriptions = await this.activeSubscriptions();
    if (!subscriptions.length) {
      // nothing to match: keep the position at the end of the feed (a new Subscription sees only later changes)
      await this.feed.skipToEnd(this.db, CURSOR);
      this.idle = true;
      return false;
    }
    this.idle = false;
    const pings: string[] = [];
    let notified = 0;
    const more = await this.db.transaction(async (tx) => {
      const window = await this.feed.open(tx, CURSOR);
      if (!window) return false; // another process is matching
      const changes = await this.feed.next(tx, window, BATCH);
      const full = changes.length === BATCH;
      const matches = await this.match(tx, subscriptions, changes);
      const restHook = matches.filter((m) => m.sub.channel === 'rest-hook');
      await this.queue.sendMany<Notification>(
        NOTIFY_QUEUE,
        restHook.map((m) => ({ subscriptionId: m.sub.id, resourceType: m.resourceType, id: m.id, versionId: m.versionId })),
        tx,
      );
      notified = restHook.length;
      pings.push(...new Set(matches.filter((m) => m.sub.channel === 'websocket').map((m) => m.sub.id)));
      await this.feed.advance(tx, CURSOR, full ? changes[changes.length - 1] : undefined);
      return full;
    });
    if (notified) this.queue.wake(NOTIFY_QUEUE);
    if (pings.length) await this.events.publish(pings);
    return more;
  }

  /** Which changed resources match which Subscriptions (current index state; deletions never match). */
  private async match(tx: Queryable, subscriptions: Matchable[], changes: FeedChange[]) {
    const latest = new Map<string, Map<string, number>>();
    for (const c of changes) {
      if (c.deleted) continue;
      if (!latest.has(c.resourceType)) latest.set(c.resourceType, new Map());
      const byId = latest.get(c.resourceType)!;
      byId.set(c.id, Math.max(byId.get(c.id) ?? 0, c.versionId));
    }
    const out: { sub: ActiveSubscription; resourceType: string; id: string; versionId: number }[] = [];
    const wanted = new Set(subscriptions.map((s) => s.resourceType));
    const refs = [...latest].filter(([type]) => wanted.has(type)).flatMap(([resourceType, byId]) => [...byId.keys()].map((id) => ({ resourceType, id })));
    // the current version of each changed resource, for the subscriptions' cheap pre-checks
    const current = new Map<string, { versionId: number; content: string }>();
    for (let i = 0; i < refs.length; i += ID_CHUNK) {
      for (const r of await this.storage.resources.readMany(tx, refs.slice(i, i + ID_CHUNK))) {
        current.set(`${r.resourceType}/${r.id}`, { versionId: r.versionId, content: r.content! });
      }
    }
    for (const sub of subscriptions) {
      const byId = latest.get(sub.resourceType);
      if (!byId) continue;
      const ids = [...byId.keys()].filter((id) => {
        const text = current.get(`${sub.resourceType}/${id}`)?.content;
        return text !== undefined && sub.prefilter(text);
      });
      for (let i = 0; i < ids.length; i += ID_CHUNK) {
        const chunk = ids.slice(i, i + ID_CHUNK);
        const matches = await this.search.findMatches(sub.resourceType, [...sub.criteria, ['_id', chunk.join(',')]], {
          q: tx,
          limit: chunk.length,
          restriction: sub.restriction,
        });
        // the search read the current index, which may already hold a version committed after this window's snapshot:
        // a match stands for the window's version only if that is still the current one after the search (versions only
        // grow, so it was the one searched); a newer version is matched on its own content in a later round
        const after = matches.length ? await this.storage.resources.readMany(tx, matches.map((m) => ({ resourceType: sub.resourceType, id: m.id }))) : [];
        const currentAfter = new Map(after.map((r) => [r.id, r.versionId]));
        for (const m of matches) {
          const versionId = byId.get(m.id)!;
          if (currentAfter.get(m.id) !== versionId) continue;
          if (await this.allowed(tx, sub, m.id, versionId, current)) out.push({ sub, resourceType: sub.resourceType, id: m.id, versionId });
        }
      }
    }
    return out;
  }

  /**
   * The version notified must itself be readable by the Subscription's
   * author: the search saw the current index, and a version committed after
   * this window's may have moved the resource into their patient's
   * compartment. Checked in memory like a vread of an older version (the
   * types outside the Patient compartment hold no patient's data).
   */
  private async allowed(tx: Queryable, sub: Matchable, id: string, versionId: number, current: Map<string, { versionId: number; content: string }>) {
    if (!sub.policy || !this.authorizer.compartments.isPatientCompartmentType(sub.resourceType)) return true;
    const now = current.get(`${sub.resourceType}/${id}`);
    const content = now?.versionId === versionId ? now.content : (await this.storage.resources.readVersion(tx, sub.resourceType, id, versionId))?.content;
    return !!content && bodyAllowed(sub.policy, JSON.parse(content) as Resource, 'r', this.authorizer.compartments);
  }

  /** The Subscriptions to match against, after settling requested / expired ones. */
  private async activeSubscriptions(): Promise<Matchable[]> {
    const active: Matchable[] = [];
    const rows = await this.feed.subscriptions(this.db);
    const present = new Set(rows.map((r) => r.id));
    for (const id of this.checked.keys()) if (!present.has(id)) this.checked.delete(id);
    for (const row of rows) {
      const s = JSON.parse(row.content) as Subscription;
      if (s.status !== 'requested' && s.status !== 'active') continue;
      if (s.end && Date.parse(s.end) <= Date.now()) {
        await this.setStatus(row.id, row.versionId, 'off');
        continue;
      }
      let sub = this.checked.get(row.id);
      if (sub?.versionId !== row.versionId) {
        try {
          const read = readSubscription(s);
          const { restriction, policy } = this.accessOf(row.owner, read.resourceType);
          // the criteria must be a search the server can run (400s become the Subscription's error)
          await this.search.findMatches(read.resourceType, [...read.criteria, ['_id', 'none']], { limit: 1, restriction });
          const prefilter = criteriaPrefilter(read.criteria, this.definitions.searchParametersOf(read.resourceType));
          sub = { ...read, versionId: row.versionId, prefilter, restriction, policy };
          this.checked.set(row.id, sub);
        } catch (err: any) {
          await this.setStatus(row.id, row.versionId, 'error', err?.message ?? 'invalid Subscription');
          continue;
        }
      }
      if (s.status === 'requested') await this.setStatus(row.id, row.versionId, 'active');
      active.push(sub);
    }
    return active;
  }

  /** What the author of a Subscription may read; throws the reason the Subscription cannot be served. */
  private accessOf(owner: SubscriptionOwner | undefined, resourceType: string): { restriction?: SearchRestriction; policy?: AuthContext } {
    if (!owner) throw new Error('nobody is recorded as having written this Subscription: write it again (PUT) so its notifications can be bounded by the writer\'s access');
    const policy = policyOf(owner, (t) => this.definitions.isResourceType(t));
    const restriction = this.authorizer.restriction(policy);
    if (!restriction) return {};
    if (restriction.criteriaFor(resourceType) === false) {
      throw new Error(`the access of whoever wrote this Subscription does not allow reading ${resourceType}`);
    }
    return { restriction, policy };
  }

  /** A new version of the Subscription with this status (and error text); skipped if the client changed it meanwhile. */
  async setStatus(id: string, versionId: number, status: Subscription['status'], error?: string): Promise<void> {
    await this.storage
      .modify(
        'Subscription',
        id,
        (current) => {
          const next = { ...(current as Subscription), status };
          if (error) next.error = error.slice(0, 1000);
          else delete next.error;
          return next;
        },
        { ifMatch: versionId },
      )
      .then(() => logger.info({ subscription: id, status }, 'subscription status changed'))
      .catch(() => undefined);
  }
}

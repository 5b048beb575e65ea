import type { Resource } from 'fhir/r4';
import { uuidv7 } from '../../uuidv7';
import type { Queryable } from '../../database/database';
import { badRequest, conflict, FhirError, gone, notFound, preconditionFailed } from '../errors';
import { applyResourcePatch } from '../patch/resource-patch';
import type { Match, SearchRestriction, SearchService } from '../search/search.service';
import type { StorageService } from '../storage/storage.service';
import { toStored } from '../storage/storage.service';
import type { StoredVersion, VersionWrite, WriteExtra } from '../storage/storage.types';
import { entryError } from './bundle-parser';
import type { BundleRepository } from './bundle.repository';
import type { EntryOutcome, EntryRequest, Params } from './bundle.types';
import { conditionKey, conditionParams } from './conditions';
import type { EntryAccess } from './entry-access';
import { key, resolveReferences, type Target } from './write-references';

export interface WriteMode {
  /** transaction: entries reference each other through their fullUrl (urn:uuid:, urn:oid:, absolute URLs) */
  linkEntries: boolean;
  /** errors say `Bundle.entry[i]` (false for the conditional REST interactions) */
  nameEntries: boolean;
  /** most resources one conditional delete may remove (1: single only) */
  deleteMax: number;
  /**
   * new resources per write statement in a transaction (BUNDLE_WRITE_CHUNK): small enough that
   * PostgreSQL writes one chunk while Node prepares the next, large enough that a statement's
   * planning stays a small part of it
   */
  chunk: number;
  /** rows written in the same statements as the versions (the AuditEvent of each write) */
  extras?: WriteExtra[];
  /** the caller's authorization: bounds condition searches and checks the content written; undefined: unrestricted */
  access?: EntryAccess;
}

/** What a caller says about a run; the engine adds the server's limits (deleteMax, chunk). */
export type CallerWriteMode = Omit<WriteMode, 'deleteMax' | 'chunk'>;

/** Signals a write that lost a race (a concurrent insert of the same id): the whole run is retried. */
export class RetryableConflict extends Error {}

type Kind = 'create' | 'noop' | 'update' | 'patch' | 'delete';

type Condition = { type: string; params: Params; limit: number; step: Step };

/** What one entry will do, once its conditions are resolved. */
interface Step {
  entry: EntryRequest;
  kind: Kind;
  targets: Target[];
  /** noop of a conditional create that an earlier entry of this Bundle creates */
  sameAs?: Step;
  resource?: Resource;
  write?: VersionWrite;
  current?: StoredVersion;
}

/**
 * One attempt at writing a set of entries, all or nothing (http.html
 * §3.1.0.11.2): conditions resolved under advisory locks, identities
 * assigned, references rewritten, every version prepared, then ONE
 * multi-row statement for new resources and ONE for new versions of
 * existing ones. `q` is the transaction (or the pool when the run is a
 * single statement of plain creates).
 */
export class WriteRun {
  private readonly steps: Step[];
  private readonly matches = new Map<string, Match[]>();
  private readonly deleted = new Set<string>();
  private current = new Map<string, StoredVersion>();
  private readonly deletes: VersionWrite[] = [];
  /** one lastUpdated for the whole run, taken after the transaction began (the change feed relies on it) */
  private readonly now = new Date();

  constructor(
    private readonly storage: StorageService,
    private readonly search: SearchService,
    private readonly repo: BundleRepository,
    entries: EntryRequest[],
    private readonly mode: WriteMode,
  ) {
    this.steps = entries.map((entry) => ({ entry, kind: 'create', targets: [] }));
  }

  async execute(q: Queryable, inTx: boolean): Promise<EntryOutcome[]> {
    const conditions = this.conditions();
    // the lock is the condition's alone, whoever searches it
    if (inTx) await this.repo.lockConditions(q, [...conditions.values()].map((c) => conditionKey(c.type, c.params)));
    for (const [k, c] of conditions) {
      this.matches.set(k, await this.find(q, c.type, c.params, c.limit, c.step, this.mode.access?.condition(c.step.entry)));
    }
    this.planDeletes();
    this.planOthers();
    this.checkOverlaps();
    const lockKeys = this.steps.flatMap((s) => (s.kind === 'create' || s.sameAs ? [] : s.targets));
    if (lockKeys.length) this.current = await this.repo.lockCurrent(q, lockKeys);
    for (const s of this.steps) this.step(s, () => this.buildResource(s));
    // fullUrls and conditional references (write-references.ts): the latter searched within the caller's access
    const find = (s: Step, type: string, params: Params, limit: number) => this.find(q, type, params, limit, s, this.mode.access?.references());
    await resolveReferences(this.steps, { linkEntries: this.mode.linkEntries, deleted: this.deleted, find, step: (s, fn) => this.step(s, fn) }, inTx);
    for (const s of this.steps) await this.checkAccess(s, q);
    await this.writeAll(q, inTx);
    return this.steps.map((s) => this.outcome(s));
  }

  // ---- conditions -----------------------------------------------------------

  private conditions(): Map<string, Condition> {
    const out = new Map<string, Condition>();
    for (const s of this.steps) {
      const e = s.entry;
      const params = e.method === 'POST' ? e.ifNoneExist : e.id === undefined ? e.params : undefined;
      if (!params) continue;
      const selecting = conditionParams(params);
      if (!selecting.length) this.step(s, () => { throw badRequest('the condition has no search parameters'); });
      const k = this.condKey(e);
      const limit = e.method === 'DELETE' ? this.mode.deleteMax + 1 : 2;
      const prev = out.get(k);
      if (!prev || prev.limit < limit) out.set(k, { type: e.resourceType!, params: selecting, limit, step: prev?.step ?? s });
    }
    return out;
  }

  /** The condition; for a restricted caller also the method, since each interaction's scopes bound what its search matches. */
  private condKey(e: EntryRequest): string {
    const k = conditionKey(e.resourceType!, conditionParams((e.method === 'POST' ? e.ifNoneExist : e.params)!));
    return this.mode.access ? `${k}#${e.method}` : k;
  }

  /** Matches of a condition, minus what this transaction deletes (deletes are processed first). */
  private live(e: EntryRequest): Match[] {
    return this.matches.get(this.condKey(e))!.filter((m) => !this.deleted.has(`${m.resourceType}/${m.id}`));
  }

  private planDeletes(): void {
    for (const s of this.steps) {
      if (s.entry.method !== 'DELETE') continue;
      s.kind = 'delete';
      if (s.entry.id !== undefined) {
        s.targets = [{ resourceType: s.entry.resourceType!, id: s.entry.id }];
      } else {
        const m = this.matches.get(this.condKey(s.entry))!;
        if (m.length > this.mode.deleteMax) {
          this.step(s, () => {
            throw preconditionFailed(
              this.mode.deleteMax > 1
                ? `the condition matches more than ${this.mode.deleteMax} resources`
                : `the condition matches ${m.length} resources; conditional delete of several resources is not enabled`,
            );
          });
        }
        s.targets = m.map((x) => ({ resourceType: x.resourceType, id: x.id }));
      }
      for (const t of s.targets) this.deleted.add(key(t));
    }
  }

  private planOthers(): void {
    const createdFor = new Map<string, Step>();
    for (const s of this.steps) {
      const e = s.entry;
      const type = e.resourceType!;
      if (e.method === 'POST') {
        if (!e.ifNoneExist) {
          s.targets = [{ resourceType: type, id: this.newId() }];
          continue;
        }
        const k = this.condKey(e);
        const m = this.single(s, this.live(e), 'conditional create');
        const earlier = createdFor.get(k);
        if (m) {
          s.kind = 'noop';
          s.targets = [m];
        } else if (earlier) {
          // processed in order: the earlier entry of this Bundle already created it
          s.kind = 'noop';
          s.sameAs = earlier;
          s.targets = earlier.targets;
        } else {
          s.targets = [{ resourceType: type, id: this.newId() }];
          createdFor.set(k, s);
        }
      } else if (e.method === 'PUT' || e.method === 'PATCH') {
        s.kind = e.method === 'PUT' ? 'update' : 'patch';
        if (e.id !== undefined) {
          s.targets = [{ resourceType: type, id: e.id }];
          continue;
        }
        const m = this.single(s, this.live(e), `conditional ${e.method === 'PUT' ? 'update' : 'patch'}`);
        if (m) {
          if (e.resource?.id !== undefined && e.resource.id !== m.id) {
            this.step(s, () => { throw badRequest(`resource id "${e.resource!.id}" is not the id of the match (${type}/${m.id})`, ['id']); });
          }
          s.targets = [m];
        } else if (e.method === 'PATCH') {
          this.step(s, () => { throw notFound(`no ${type} matches ${e.url}`); });
        } else {
          s.targets = [{ resourceType: type, id: e.resource?.id ?? this.newId() }];
          s.kind = e.resource?.id === undefined ? 'create' : 'update';
        }
      }
    }
  }

  /** At most one match; several: 412 (http.html conditional create/update/patch). */
  private single(s: Step, m: Match[], what: string): Target | undefined {
    if (m.length > 1) this.step(s, () => { throw preconditionFailed(`${what}: the condition matches more than one resource`); });
    return m[0] && { resourceType: m[0].resourceType, id: m[0].id };
  }

  /** A resource may be the target of one entry only (http.html §3.1.0.11.2). */
  private checkOverlaps(): void {
    const owner = new Map<string, Step>();
    for (const s of this.steps) {
      if (s.kind === 'noop') continue;
      for (const t of s.targets) {
        const prev = owner.get(key(t));
        if (prev) {
          this.step(s, () => {
            throw badRequest(`${key(t)} is also the target of Bundle.entry[${prev.entry.index}]; a resource may appear once`);
          });
        }
        owner.set(key(t), s);
      }
    }
  }

  // ---- versions ---------------------------------------------------------------

  private buildResource(s: Step): void {
    const e = s.entry;
    const t = s.targets[0];
    if (s.kind === 'create') {
      s.resource = e.resource;
      return;
    }
    if (s.kind === 'noop' || s.kind === 'delete') return;
    const cur = this.current.get(key(t));
    s.current = cur;
    if (e.ifMatch !== undefined && (!cur || cur.deleted || cur.versionId !== e.ifMatch)) {
      throw preconditionFailed(`version ${e.ifMatch} of ${key(t)} is not current${cur ? ` (current is ${cur.versionId})` : ''}`);
    }
    if (s.kind === 'update') {
      if (e.id === undefined && cur && !cur.deleted && !this.matchedBy(s)) {
        throw conflict(`${key(t)} exists but does not match the condition of ${e.url}`);
      }
      s.resource = e.resource;
      return;
    }
    if (!cur) throw notFound(`${key(t)} is not known`);
    if (cur.deleted) throw gone(`${key(t)} was deleted`);
    const next = applyResourcePatch(JSON.parse(cur.content!), e.patch!);
    if (next.resourceType !== t.resourceType || next.id !== t.id) {
      throw FhirError.of(422, 'invalid', 'a patch may not change resourceType or id');
    }
    s.resource = next;
  }

  /** A restricted caller may write only content its scopes allow: checked on what is written (patched, references resolved). */
  private async checkAccess(s: Step, q: Queryable): Promise<void> {
    if (!this.mode.access || !s.resource || s.kind === 'noop' || s.kind === 'delete') return;
    await this.mode.access.content(s.entry, s.resource, s.current, q).catch((err) => this.fail(s, err));
  }

  private matchedBy(s: Step): boolean {
    return this.live(s.entry).some((m) => m.id === s.targets[0].id);
  }

  private prepare(s: Step): void {
    const t = s.targets[0];
    if (s.kind === 'noop') return;
    if (s.kind === 'delete') {
      for (const target of s.targets) this.prepareDelete(s, target);
      return;
    }
    const cur = s.current;
    const versionId = cur ? cur.versionId + 1 : 1;
    const method = s.kind === 'patch' ? 'PATCH' : s.entry.method === 'POST' ? 'POST' : 'PUT';
    s.write = this.storage.prepare(s.resource!, t.id, versionId, method, this.now);
    if (cur) s.write.expectedVersion = cur.versionId;
  }

  private prepareDelete(s: Step, t: Target): void {
    const cur = this.current.get(key(t));
    // an id that never existed: nothing to write, the entry answers 204 (http.html#delete); with If-Match, 412
    if (!cur && s.entry.ifMatch !== undefined) throw preconditionFailed(`${key(t)} does not exist (If-Match)`);
    if (!cur) return;
    if (s.entry.ifMatch !== undefined && cur.versionId !== s.entry.ifMatch) {
      throw preconditionFailed(`version ${s.entry.ifMatch} of ${key(t)} is not current (current is ${cur.versionId})`);
    }
    if (cur.deleted) return;
    const w: VersionWrite = {
      resourceType: t.resourceType,
      id: t.id,
      versionId: cur.versionId + 1,
      lastUpdated: this.now,
      deleted: true,
      method: 'DELETE',
      content: null,
      expectedVersion: cur.versionId,
    };
    this.deletes.push(w);
    if (s.targets.length === 1) s.write = w;
  }

  // ---- writing ----------------------------------------------------------------

  /**
   * Prepares every version (validated, stamped, indexed) and writes them: new resources in
   * statements of up to `mode.chunk` versions, versions of existing resources in one statement with
   * its rows in key order (two runs lock them in the same order). In a transaction a statement is
   * sent as soon as its versions are ready, and the next chunk is prepared while PostgreSQL writes
   * it (one statement at a time on the connection: the next is sent once the previous is done).
   * Outside one (`q` is the pool: a run of plain creates no larger than a chunk) it is all one statement.
   */
  private async writeAll(q: Queryable, inTx: boolean): Promise<void> {
    let writing: Promise<void> | undefined;
    let failure: unknown;
    const send = async (writes: VersionWrite[], existing: boolean) => {
      await writing;
      if (failure) return;
      const repo = this.storage.resources;
      const statement = existing ? repo.updateVersions(q, writes, this.mode.extras) : repo.insertVersions(q, writes, this.mode.extras);
      // the statement's parameters hold the index rows now: let them go while young (kept until the
      // Bundle's last chunk, they outlived two scavenges and were copied into the old generation)
      for (const w of writes) w.index = undefined;
      writing = statement.then(
        // a row we locked cannot change; an id we insert may have been created concurrently since we looked
        (written) => void (written.size !== writes.length && (failure ??= new RetryableConflict('concurrent write'))),
        (err) => void (failure ??= err),
      );
    };
    try {
      const inserts: VersionWrite[] = [];
      const updates: VersionWrite[] = [];
      for (const s of this.steps) {
        if (failure) break;
        this.step(s, () => this.prepare(s));
        if (!s.write || s.kind === 'delete') continue;
        if (s.write.expectedVersion !== undefined) updates.push(s.write);
        else if (inserts.push(s.write) === this.mode.chunk && inTx) await send(inserts.splice(0), false);
      }
      const byKey = (a: VersionWrite, b: VersionWrite) => (a.resourceType + '/' + a.id < b.resourceType + '/' + b.id ? -1 : 1);
      // deletes: prepared above, with their steps
      updates.push(...this.deletes);
      if (updates.length && !failure) await send(updates.sort(byKey), true);
      if (inserts.length && !failure) await send(inserts, false);
    } finally {
      // a failed preparation too waits for the statement it sent: nothing is left running unobserved
      await writing;
    }
    if (failure) throw failure;
  }

  private outcome(s: Step): EntryOutcome {
    switch (s.kind) {
      case 'create':
        return { status: 201, version: toStored(s.write!) };
      case 'noop': {
        const v = s.sameAs ? toStored(s.sameAs.write!) : this.current.get(key(s.targets[0]));
        return { status: 200, version: v };
      }
      case 'delete': {
        const v = s.write ? toStored(s.write) : s.targets.length === 1 ? this.current.get(key(s.targets[0])) : undefined;
        return { status: 204, version: v, deletedCount: s.targets.length };
      }
      default:
        return { status: s.current && !s.current.deleted ? 200 : 201, version: toStored(s.write!) };
    }
  }

  // ---- helpers ------------------------------------------------------------------

  /** A new resource's id: a time-ordered UUID (v7) of the run's lastUpdated (see `StorageService.create`). */
  private newId(): string {
    return uuidv7(this.now.getTime());
  }

  private find(q: Queryable, type: string, params: Params, limit: number, s: Step, restriction?: SearchRestriction): Promise<Match[]> {
    return this.search.findMatches(type, params, { q, limit, restriction }).catch((err) => this.fail(s, err));
  }

  /** Runs fn for the step; a FhirError is named after the entry. */
  private step<T>(s: Step, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      return this.fail(s, err);
    }
  }

  private fail(s: Step, err: unknown): never {
    if (err instanceof FhirError && this.mode.nameEntries) throw entryError(s.entry.index, err);
    throw err;
  }
}

import type { Resource } from 'fhir/r4';
import type { Database, Queryable } from '../../database/database';
import { FhirError, gone, notFound, preconditionFailed } from '../errors';
import { HistoryQuery, HistoryRepository } from './history.repository';
import { ResourceRepository } from './resource.repository';
import type { ResourceIndexer, StoredVersion, VersionWrite, WriteExtra, WriteMethod } from './storage.types';
import { VersionHints } from './version-hints';
import { uuidv7 } from '../../uuidv7';

/** Options shared by the write interactions. */
export interface WriteOptions {
  /** If-Match version: the write fails with 412 unless it is the current version */
  ifMatch?: number;
  /** run inside this transaction instead of on its own */
  tx?: Queryable;
  /** rows written atomically with the version (audit) */
  extras?: WriteExtra[];
}

export interface WriteResult {
  stored: StoredVersion;
  /** true when the write created the resource (201) */
  created: boolean;
  /** false when nothing changed (delete of a deleted resource) */
  changed: boolean;
}

/** Thrown inside a delete's write when there is no row at all: nothing to write, the delete answers as done. */
const NEVER_EXISTED = new Error('never existed');

/** Called on every resource before it is stored; throws a FhirError when invalid. */
export type ResourceCheck = (resource: Resource) => void;

/**
 * Versioned storage of FHIR resources: assigns ids and meta, extracts index
 * rows, writes current + history + index in one statement, and reads back.
 * Everything above it (REST, bundles, operations) writes through here.
 */
export class StorageService {
  readonly resources: ResourceRepository;
  readonly history = new HistoryRepository();
  /** last versions seen by this process: lets an update skip reading the current version */
  private readonly hints = new VersionHints();

  constructor(
    readonly db: Database,
    private readonly indexer: ResourceIndexer,
    private readonly check: ResourceCheck = () => undefined,
  ) {
    this.resources = new ResourceRepository(indexer.tables);
  }

  // ---- reads -------------------------------------------------------------

  /** Current version; 404 when unknown, 410 when deleted. */
  async read(resourceType: string, id: string, q: Queryable = this.db): Promise<StoredVersion> {
    const current = await this.resources.readCurrent(q, resourceType, id);
    if (!current) throw notFound(`${resourceType}/${id} is not known`);
    // (not inside a caller's transaction: what it read may be its own uncommitted write)
    if (q === this.db) this.hints.saw(resourceType, id, current.versionId, current.deleted);
    if (current.deleted) {
      const err = gone(`${resourceType}/${id} was deleted`);
      err.headers.ETag = `W/"${current.versionId}"`;
      throw err;
    }
    return current;
  }

  /** Current version or undefined (deleted included). */
  readCurrent(resourceType: string, id: string, q: Queryable = this.db): Promise<StoredVersion | undefined> {
    return this.resources.readCurrent(q, resourceType, id);
  }

  async vread(resourceType: string, id: string, versionId: number, q: Queryable = this.db): Promise<StoredVersion> {
    // version_id is an integer column: a larger number is no version (and must not reach SQL, where it fails)
    const v = Number.isInteger(versionId) && versionId >= 1 && versionId <= 2_147_483_647 ? await this.resources.readVersion(q, resourceType, id, versionId) : undefined;
    if (!v) throw notFound(`${resourceType}/${id}/_history/${versionId} is not known`);
    if (v.deleted) throw gone(`${resourceType}/${id}/_history/${versionId} is a deletion`);
    return v;
  }

  historyPage(query: HistoryQuery, q: Queryable = this.db): Promise<StoredVersion[]> {
    return this.history.find(q, query);
  }

  // ---- writes ------------------------------------------------------------

  /**
   * create: the server assigns the id (a client id in the body is ignored), a time-ordered UUID
   * (v7) of the version's lastUpdated: new ids append to the id indexes instead of landing on
   * random pages of them.
   */
  async create(resource: Resource, opts: WriteOptions = {}): Promise<WriteResult> {
    const now = new Date();
    const write = this.prepare(resource, uuidv7(now.getTime()), 1, 'POST', now);
    const written = await this.resources.insertVersions(opts.tx ?? this.db, [write], opts.extras);
    if (!written.size) throw new FhirError(500, [{ severity: 'error', code: 'exception', diagnostics: 'id collision' }]);
    const result = { stored: toStored(write), created: true, changed: true };
    return opts.tx ? result : this.sawWritten(result);
  }

  /** update, or update-as-create when the id is new (client-assigned id). */
  update(resource: Resource, opts: WriteOptions = {}, method: WriteMethod = 'PUT'): Promise<WriteResult> {
    const { resourceType, id } = resource as Required<Pick<Resource, 'resourceType' | 'id'>>;
    const build = (current: StoredVersion | undefined) => {
      if (!current) {
        if (opts.ifMatch !== undefined) throw preconditionFailed(`${resourceType}/${id} does not exist (If-Match)`);
        return this.prepare(resource, id, 1, method);
      }
      return this.prepare(resource, id, current.versionId + 1, method);
    };
    return this.writeHinted(resourceType, id, opts, build).then((r) => r ?? this.writeNext(resourceType, id, opts, build));
  }

  /** Applies `change` to the current content and stores the result as a new version (patch). */
  modify(resourceType: string, id: string, change: (current: Resource) => Resource, opts: WriteOptions = {}): Promise<WriteResult> {
    return this.writeNext(resourceType, id, opts, (current) => {
      if (!current) throw notFound(`${resourceType}/${id} is not known`);
      if (current.deleted) throw gone(`${resourceType}/${id} was deleted`);
      const next = change(JSON.parse(current.content!));
      if (next.resourceType !== resourceType || next.id !== id) {
        throw FhirError.of(422, 'invalid', 'a patch may not change resourceType or id');
      }
      return this.prepare(next, id, current.versionId + 1, 'PATCH');
    });
  }

  /**
   * delete: a versioned tombstone. Already deleted → unchanged. An id that never existed →
   * undefined, nothing written (http.html#delete: the server SHOULD answer 200/204 "when the
   * resource does not exist at all"); with If-Match, 412 as for an update.
   */
  async delete(resourceType: string, id: string, opts: WriteOptions = {}): Promise<WriteResult | undefined> {
    const build = (current: StoredVersion | undefined): VersionWrite | undefined => {
      if (!current) {
        if (opts.ifMatch !== undefined) throw preconditionFailed(`${resourceType}/${id} does not exist (If-Match)`);
        throw NEVER_EXISTED;
      }
      if (current.deleted) return undefined;
      return {
        resourceType,
        id,
        versionId: current.versionId + 1,
        lastUpdated: new Date(),
        deleted: true,
        method: 'DELETE',
        content: null,
      };
    };
    try {
      return await this.writeNext(resourceType, id, opts, build);
    } catch (err) {
      if (err === NEVER_EXISTED) return undefined;
      throw err;
    }
  }

  /**
   * An update straight from this process's last known version (`VersionHints`): one statement,
   * no read before it. Undefined when there is no hint, the request runs in a transaction, its
   * If-Match names another version, or the guard found the hint stale (nothing was written): the
   * caller then takes the usual path, which decides authoritatively.
   */
  private async writeHinted(
    resourceType: string,
    id: string,
    opts: WriteOptions,
    build: (current: StoredVersion) => VersionWrite,
  ): Promise<WriteResult | undefined> {
    const hint = opts.tx ? undefined : this.hints.get(resourceType, id);
    if (hint === undefined || (opts.ifMatch !== undefined && opts.ifMatch !== hint)) return undefined;
    const write = build({ resourceType, id, versionId: hint, lastUpdated: new Date(0), deleted: false, content: null });
    write.expectedVersion = hint;
    if (!(await this.resources.updateVersions(this.db, [write], opts.extras)).size) {
      this.hints.stale(resourceType, id);
      return undefined;
    }
    return this.sawWritten({ stored: toStored(write), created: false, changed: true });
  }

  /**
   * Writes the version `build` makes from the current one. First try
   * optimistic (read, then write only if the version is unchanged: two round
   * trips, no lock); if another writer got in between, redo it in a
   * transaction holding the row lock, so contention cannot starve a writer.
   * With If-Match a concurrent change is simply 412.
   */
  private async writeNext(
    resourceType: string,
    id: string,
    opts: WriteOptions,
    build: (current: StoredVersion | undefined) => VersionWrite | undefined,
  ): Promise<WriteResult> {
    const attempt = async (q: Queryable, lock: boolean): Promise<WriteResult | undefined> => {
      const current = lock
        ? await this.resources.readCurrentForUpdate(q, resourceType, id)
        : await this.resources.readCurrent(q, resourceType, id);
      if (current) this.checkIfMatch(current, opts.ifMatch);
      const write = build(current);
      if (!write) return { stored: current!, created: false, changed: false };
      if (!current) {
        const written = await this.resources.insertVersions(q, [write], opts.extras);
        return written.size ? { stored: toStored(write), created: true, changed: true } : undefined;
      }
      write.expectedVersion = current.versionId;
      const written = await this.resources.updateVersions(q, [write], opts.extras);
      if (written.size) return { stored: toStored(write), created: current.deleted && !write.deleted, changed: true };
      return undefined;
    };
    if (opts.tx) {
      const r = await attempt(opts.tx, true);
      if (r) return r;
      // the id was created by a concurrent transaction after our read: now it exists, lock it
      const again = await attempt(opts.tx, true);
      if (again) return again;
    } else {
      const r = await attempt(this.db, false);
      if (r) return this.sawWritten(r);
      if (opts.ifMatch !== undefined) throw preconditionFailed(`${resourceType}/${id} changed concurrently (If-Match)`);
      const locked = await this.db.transaction(async (tx) => (await attempt(tx, true)) ?? (await attempt(tx, true)));
      if (locked) return this.sawWritten(locked);
    }
    throw FhirError.of(409, 'conflict', `${resourceType}/${id} is being written concurrently; try again`);
  }

  /**
   * Validates, stamps id and meta, serializes and extracts index rows: the
   * version as it will be written. Used by the set-based bundle writer too.
   */
  prepare(resource: Resource, id: string, versionId: number, method: WriteMethod, lastUpdated = new Date()): VersionWrite {
    // the audit trail is written by the server into its own table (src/audit), never through the API or a Bundle
    if (resource.resourceType === 'AuditEvent') {
      throw FhirError.of(405, 'not-supported', 'AuditEvent is recorded by the server (the audit trail): it cannot be created or changed');
    }
    const stamped = stamp(resource, id, versionId, lastUpdated);
    this.check(stamped);
    return {
      resourceType: stamped.resourceType,
      id,
      versionId,
      lastUpdated,
      deleted: false,
      method,
      content: JSON.stringify(stamped),
      index: this.indexer.extract(stamped),
    };
  }

  /** A committed write outside a caller's transaction: its version becomes this process's hint. */
  private sawWritten(r: WriteResult): WriteResult {
    this.hints.saw(r.stored.resourceType, r.stored.id, r.stored.versionId, r.stored.deleted);
    return r;
  }

  private checkIfMatch(current: StoredVersion, ifMatch?: number): void {
    if (ifMatch !== undefined && current.versionId !== ifMatch) {
      throw preconditionFailed(
        `version ${ifMatch} of ${current.resourceType}/${current.id} is not current (current is ${current.versionId})`,
      );
    }
  }
}

/** The resource with the server's id and meta, keys ordered resourceType, id, meta, rest. */
export function stamp(resource: Resource, id: string, versionId: number, lastUpdated: Date): Resource {
  const { resourceType, id: _ignored, meta, ...rest } = resource as any;
  const { versionId: _v, lastUpdated: _l, ...metaRest } = meta ?? {};
  return {
    resourceType,
    id,
    meta: { versionId: String(versionId), lastUpdated: lastUpdated.toISOString(), ...metaRest },
    ...rest,
  } as Resource;
}

/** The stored form of a version just written (no read back needed). */
export function toStored(w: VersionWrite): StoredVersion {
  return {
    resourceType: w.resourceType,
    id: w.id,
    versionId: w.versionId,
    lastUpdated: w.lastUpdated,
    deleted: w.deleted,
    method: w.method,
    content: w.content,
  };
}

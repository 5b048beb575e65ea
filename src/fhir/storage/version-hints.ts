/**
 * The last version this process saw of recently read or written resources: a hint, never a
 * fact. An update whose resource has a hint skips reading the current version and writes at
 * once, guarded in SQL by `version_id = hint` (the same optimistic check as after a read); when
 * another process or a Bundle wrote in between, the guard writes nothing and the update takes the
 * usual path (read, then write). So a stale hint costs one empty statement and a right one saves
 * a round trip; nothing depends on it being right. Only live versions are kept (a deletion
 * removes the hint: an update of a deleted resource re-creates it and must know so). A resource
 * whose hint was once stale (written by several processes in turn, as `WORKERS` round-robin does)
 * gets no more hints: it would pay the empty statement every time. Bounded.
 */
export class VersionHints {
  private readonly versions = new Map<string, number>();

  constructor(private readonly max = 100_000) {}

  get(resourceType: string, id: string): number | undefined {
    const v = this.versions.get(`${resourceType}/${id}`);
    return v === STALE ? undefined : v;
  }

  /** Records what was read or written: a live version, or a deletion (forgets the resource). */
  saw(resourceType: string, id: string, versionId: number, deleted: boolean): void {
    const key = `${resourceType}/${id}`;
    if (deleted) {
      this.versions.delete(key);
      return;
    }
    const known = this.versions.get(key);
    if (known === STALE) return;
    if (known === undefined && this.versions.size >= this.max) this.versions.clear();
    this.versions.set(key, versionId);
  }

  /** The hint was stale: others write this resource too; use the usual path for it from now on. */
  stale(resourceType: string, id: string): void {
    this.versions.set(`${resourceType}/${id}`, STALE);
  }
}

const STALE = -1;

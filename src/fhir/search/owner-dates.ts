import type { Queryable } from '../../database/database';

const RECHECK_MS = 30_000;

/**
 * Whether every stored resource has its owner date rows (index-tables.ts `ownerDateRows`), as the
 * SearchIndexOwnerDates migration and a full reindex record it in `search_index_feature`. Searches
 * use those rows only then: a database indexed before they existed lacks them until a reindex.
 * Once ready it stays so; until then it is re-read at most every 30 s (another process may have
 * finished the reindex), without holding up the search that notices.
 */
export class OwnerDatesState {
  private ready = false;
  private checkedAt = 0;

  constructor(private readonly db: Queryable) {}

  get usable(): boolean {
    if (!this.ready && Date.now() - this.checkedAt > RECHECK_MS) void this.refresh();
    return this.ready;
  }

  async refresh(): Promise<boolean> {
    this.checkedAt = Date.now();
    try {
      const r = await this.db.query<{ ready: boolean }>(`SELECT ready FROM search_index_feature WHERE name = 'owner_dates'`);
      this.ready = r.rows[0]?.ready === true;
    } catch {
      this.ready = false;
    }
    return this.ready;
  }

  /** After a reindex of every type: every resource now has its rows. */
  static async markReady(db: Queryable): Promise<void> {
    await db.query(`UPDATE search_index_feature SET ready = true, updated = now() WHERE name = 'owner_dates'`);
  }
}

import type { Queryable } from '../../database/database';
import { SqlParams } from './sql-params';
import type { StoredVersion } from './storage.types';

/** Position after the last entry of a history page (keyset paging: stable while writes go on). */
export interface HistoryCursor {
  lastUpdated: string;
  resourceType: string;
  id: string;
  versionId: number;
}

/** Position in the change feed: after this history row, in transaction order. */
export interface FeedCursor {
  /** xid8 of the writing transaction, as text */
  txId: string;
  resourceType: string;
  id: string;
  versionId: number;
}

/** The change feed: versions in the order their transactions were assigned ids, oldest first. */
export interface FeedQuery {
  resourceType?: string;
  types?: string[];
  since?: Date;
  count: number;
  after?: FeedCursor;
}

export type FeedRow = StoredVersion & { txId: string };

export interface HistoryQuery {
  resourceType?: string;
  id?: string;
  /** system level `_type` */
  types?: string[];
  /** `_since`: versions created at or after this instant */
  since?: Date;
  /** `_at`: versions current at some point in [low, high] */
  at?: { low: Date; high: Date };
  count: number;
  after?: HistoryCursor;
}

/** Owns the history SQL: instance, type and system level, newest first. */
export class HistoryRepository {
  /** Returns up to count + 1 rows so the caller knows whether a next page exists. */
  async find(q: Queryable, h: HistoryQuery): Promise<StoredVersion[]> {
    const p = new SqlParams();
    const where: string[] = [];
    if (h.resourceType) where.push(`h.resource_type = ${p.bind(h.resourceType)}`);
    if (h.id) where.push(`h.id = ${p.bind(h.id)}`);
    if (h.types?.length) where.push(`h.resource_type = ANY(${p.bind(h.types, 'text[]')})`);
    if (h.since) where.push(`h.last_updated >= ${p.bind(h.since.toISOString(), 'timestamptz')}`);
    if (h.at) {
      const low = p.bind(h.at.low.toISOString(), 'timestamptz');
      where.push(`h.last_updated <= ${p.bind(h.at.high.toISOString(), 'timestamptz')}`);
      // not replaced by a later version before the period starts
      where.push(`NOT EXISTS (SELECT 1 FROM resource_history n
        WHERE n.resource_type = h.resource_type AND n.id = h.id AND n.version_id > h.version_id AND n.last_updated <= ${low})`);
    }
    if (h.after) {
      const c = h.after;
      where.push(`(h.last_updated, h.resource_type, h.id, h.version_id) < (${p.bind(c.lastUpdated, 'timestamptz')}, ${p.bind(
        c.resourceType,
      )}, ${p.bind(c.id)}, ${p.bind(c.versionId, 'int')})`);
    }
    const order = h.id
      ? 'h.version_id DESC'
      : 'h.last_updated DESC, h.resource_type DESC, h.id DESC, h.version_id DESC';
    const sql = `SELECT h.resource_type, h.id, h.version_id, h.last_updated, h.deleted, h.method, h.content, ${CREATED}
      FROM resource_history h
      ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY ${order}
      LIMIT ${p.bind(h.count + 1, 'int')}`;
    const r = await q.query(sql, p.values);
    return r.rows.map(toVersion);
  }

  /**
   * The change feed (system or type level): rows in (tx_id, type, id,
   * version) order, only of transactions older than every transaction of
   * this database still running (FEED_HORIZON). A transaction that commits
   * late has a smaller tx_id than rows already visible, so rows are held
   * back until no older transaction can still commit: a reader that resumes
   * after its last row never skips one and never sees one twice.
   * Returns up to count rows.
   */
  async feed(q: Queryable, f: FeedQuery): Promise<FeedRow[]> {
    const p = new SqlParams();
    const types = f.resourceType ? [f.resourceType] : f.types?.length ? [...new Set(f.types)] : undefined;
    const limit = p.bind(f.count, 'int');
    const columns = `h.resource_type, h.id, h.version_id, h.last_updated, h.deleted, h.method, h.content, h.tx_id, ${CREATED}`;
    const where = (type?: string) => {
      const w = ['h.tx_id < (SELECT x FROM horizon)'];
      if (type) w.push(`h.resource_type = ${p.bind(type)}`);
      if (f.since) w.push(`h.last_updated >= ${p.bind(f.since.toISOString(), 'timestamptz')}`);
      if (f.after) w.push(afterCursor(p, f.after, type));
      return w.join(' AND ');
    };
    // one index range scan per type ((resource_type, tx_id, …) index), merged; else the global (tx_id, …) index
    const sql = `WITH horizon AS (${FEED_HORIZON}) ` + (types
      ? `SELECT * FROM (${types
          .map((t) => `(SELECT ${columns} FROM resource_history h WHERE ${where(t)} ORDER BY h.tx_id, h.id, h.version_id LIMIT ${limit})`)
          .join(' UNION ALL ')}) h
        ORDER BY h.tx_id, h.resource_type, h.id, h.version_id LIMIT ${limit}`
      : `SELECT ${columns} FROM resource_history h WHERE ${where()}
        ORDER BY h.tx_id, h.resource_type, h.id, h.version_id LIMIT ${limit}`);
    const r = await q.query(sql, p.values);
    // xid8 arrives as its decimal text
    return r.rows.map((row: any) => Object.assign(toVersion(row), { txId: String(row.tx_id) }));
  }
}

/**
 * Whether the version created the resource (its write answered 201): the first version, or one
 * that follows a deletion (an update of a deleted id re-creates it, StorageService.writeNext).
 * One primary-key probe per row returned.
 */
const CREATED = `(NOT h.deleted AND (h.version_id = 1 OR EXISTS (SELECT 1 FROM resource_history p
      WHERE p.resource_type = h.resource_type AND p.id = h.id AND p.version_id = h.version_id - 1 AND p.deleted))) AS created`;

/**
 * The oldest transaction id that may still commit rows into this database:
 * the smallest id the current snapshot sees as running (`pg_snapshot_xip`),
 * else the snapshot's xmax. Transactions of other databases in the cluster
 * (found by their 32-bit xid in pg_stat_activity) are left out so a long
 * transaction elsewhere does not stall the feed; a running id that cannot be
 * placed (it ended since, or is not visible) is kept, which only delays rows.
 */
const FEED_HORIZON = `
  SELECT coalesce(
    (SELECT min(r) FROM pg_snapshot_xip(pg_current_snapshot()) AS r
      WHERE (r::text::numeric % 4294967296) NOT IN (
        SELECT a.backend_xid::text::numeric FROM pg_stat_activity a
         WHERE a.backend_xid IS NOT NULL AND a.datname IS DISTINCT FROM current_database())),
    pg_snapshot_xmax(pg_current_snapshot())) AS x`;

/**
 * Rows after the cursor in (tx_id, resource_type, id, version_id) order. For
 * one type, `tx_id >= cursor` lets the per-type index start the scan at the
 * cursor; the row comparison then only sorts out the cursor's own transaction.
 */
function afterCursor(p: SqlParams, c: FeedCursor, type?: string): string {
  const tx = p.bind(c.txId, 'xid8');
  const row = `(h.tx_id, h.resource_type, h.id, h.version_id) > (${tx}, ${p.bind(c.resourceType)}, ${p.bind(c.id)}, ${p.bind(c.versionId, 'int')})`;
  return type ? `h.tx_id >= ${tx} AND ${row}` : row;
}

function toVersion(row: any): StoredVersion {
  return {
    resourceType: row.resource_type,
    id: row.id,
    versionId: row.version_id,
    lastUpdated: row.last_updated,
    deleted: row.deleted,
    method: row.method,
    content: row.content,
    created: row.created,
  };
}

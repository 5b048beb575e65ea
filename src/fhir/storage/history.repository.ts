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
    const sql = `SELECT h.resource_type, h.id, h.version_id, h.last_updated, h.deleted, h.method, h.content
      FROM resource_history h
      ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY ${order}
      LIMIT ${p.bind(h.count + 1, 'int')}`;
    const r = await q.query(sql, p.values);
    return r.rows.map((row: any) => ({
      resourceType: row.resource_type,
      id: row.id,
      versionId: row.version_id,
      lastUpdated: row.last_updated,
      deleted: row.deleted,
      method: row.method,
      content: row.content,
    }));
  }
}

import type { Queryable } from '../../database/database';

/** A position in resource_history, in change-feed order. */
export interface FeedPosition {
  txId: string;
  resourceType: string;
  id: string;
  versionId: number;
}

/** One new version (deletes included) seen on the feed. */
export interface FeedChange extends FeedPosition {
  deleted: boolean;
}

/**
 * Reads resource_history as an ordered change feed for the subscription
 * matcher. Only versions written by transactions older than every running
 * one are handed out (`tx_id < pg_snapshot_xmin`), so a transaction that
 * commits late can never be skipped; the cursor row is locked (SKIP LOCKED)
 * so one process matches at a time.
 */
export class ChangeFeedRepository {
  /** Locks the matcher's cursor for this transaction, creating it at the current end of the feed; undefined when another process holds it. */
  async lock(tx: Queryable, name: string): Promise<FeedPosition | undefined> {
    await tx.query(
      `INSERT INTO subscription_cursor (name, tx_id, resource_type, id, version_id)
       VALUES ($1, pg_snapshot_xmin(pg_current_snapshot()), '', '', 0)
       ON CONFLICT (name) DO NOTHING`,
      [name],
    );
    const r = await tx.query(
      'SELECT tx_id::text, resource_type, id, version_id FROM subscription_cursor WHERE name = $1 FOR UPDATE SKIP LOCKED',
      [name],
    );
    if (!r.rows.length) return undefined;
    const row = r.rows[0];
    return { txId: row.tx_id, resourceType: row.resource_type, id: row.id, versionId: row.version_id };
  }

  /** The next committed changes after `from`, in feed order. */
  async after(tx: Queryable, from: FeedPosition, limit: number): Promise<FeedChange[]> {
    const r = await tx.query(
      `SELECT h.tx_id::text, h.resource_type, h.id, h.version_id, h.deleted
         FROM resource_history h
        WHERE (h.tx_id, h.resource_type, h.id, h.version_id) > ($1::xid8, $2, $3, $4)
          AND h.tx_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY h.tx_id, h.resource_type, h.id, h.version_id
        LIMIT $5`,
      [from.txId, from.resourceType, from.id, from.versionId, limit],
    );
    return r.rows.map((x: any) => ({ txId: x.tx_id, resourceType: x.resource_type, id: x.id, versionId: x.version_id, deleted: x.deleted }));
  }

  /** Moves the position to the end of the committed feed (unless another process holds the cursor). */
  async skipToEnd(q: Queryable, name: string): Promise<void> {
    await q.query(
      `INSERT INTO subscription_cursor (name, tx_id, resource_type, id, version_id)
       VALUES ($1, pg_snapshot_xmin(pg_current_snapshot()), '', '', 0)
       ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, resource_type = '', id = '', version_id = 0, updated_at = now()
       WHERE subscription_cursor.tx_id < EXCLUDED.tx_id`,
      [name],
    );
  }

  async advance(tx: Queryable, name: string, to: FeedPosition): Promise<void> {
    await tx.query(
      `UPDATE subscription_cursor SET tx_id = $2::xid8, resource_type = $3, id = $4, version_id = $5, updated_at = now() WHERE name = $1`,
      [name, to.txId, to.resourceType, to.id, to.versionId],
    );
  }

  /** Current Subscriptions (JSON), for the matcher's list of active ones. */
  async subscriptions(q: Queryable): Promise<{ id: string; versionId: number; content: string }[]> {
    const r = await q.query(`SELECT id, version_id, content FROM resource WHERE resource_type = 'Subscription' AND NOT deleted`);
    return r.rows.map((x: any) => ({ id: x.id, versionId: x.version_id, content: x.content }));
  }
}

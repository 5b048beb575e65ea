import type { Queryable } from '../../database/database';
import type { SubscriptionOwner } from './subscription-owner';

/** One new version (deletes included) seen on the feed. */
export interface FeedChange {
  txId: string;
  resourceType: string;
  id: string;
  versionId: number;
  deleted: boolean;
}

/** Where the matcher is: the changes visible in `to` but not in `from`, after `position`. */
interface Window {
  from: string;
  to: string;
  fromXmax: string;
  fromXip: string[];
  position: [string, string, string, number];
}

const START: [string, string, string, number] = ['0', '', '', 0];

/**
 * Reads resource_history as a change feed for the subscription matcher,
 * exactly once per committed transaction: each round takes a snapshot
 * (`to`) and hands out the versions of transactions visible in it but not in
 * the previous one (`from`): those at or above `from`'s xmax or in its
 * in-progress list (`pg_visible_in_snapshot`). A transaction that commits
 * late is simply visible in a later snapshot, so none is skipped, and a long
 * transaction elsewhere delays nothing but itself. The cursor row is locked
 * (SKIP LOCKED) so one process matches at a time; rounds larger than a batch
 * continue from a keyset position inside the same window.
 */
export class ChangeFeedRepository {
  /** Locks the cursor for this transaction (creating it at the end of the feed) and opens a window; undefined when another process holds it. */
  async open(tx: Queryable, name: string): Promise<Window | undefined> {
    await tx.query(
      `INSERT INTO subscription_cursor (name, from_snapshot) VALUES ($1, pg_current_snapshot()) ON CONFLICT (name) DO NOTHING`,
      [name],
    );
    const locked = await tx.query('SELECT 1 FROM subscription_cursor WHERE name = $1 FOR UPDATE SKIP LOCKED', [name]);
    if (!locked.rows.length) return undefined;
    const r = await tx.query(
      `UPDATE subscription_cursor SET to_snapshot = coalesce(to_snapshot, pg_current_snapshot()) WHERE name = $1
       RETURNING from_snapshot::text AS "from", to_snapshot::text AS "to",
                 pg_snapshot_xmax(from_snapshot)::text AS xmax,
                 ARRAY(SELECT pg_snapshot_xip(from_snapshot))::text[] AS xip,
                 tx_id::text, resource_type, id, version_id`,
      [name],
    );
    const row = r.rows[0];
    return {
      from: row.from,
      to: row.to,
      fromXmax: row.xmax,
      fromXip: row.xip,
      position: [row.tx_id, row.resource_type, row.id, row.version_id],
    };
  }

  /** The next changes of the window, in feed order. */
  async next(tx: Queryable, w: Window, limit: number): Promise<FeedChange[]> {
    const r = await tx.query(
      `SELECT h.tx_id::text, h.resource_type, h.id, h.version_id, h.deleted
         FROM resource_history h
        WHERE (h.tx_id >= $1::xid8 OR h.tx_id = ANY($2::xid8[]))
          AND pg_visible_in_snapshot(h.tx_id, $3::pg_snapshot)
          AND (h.tx_id, h.resource_type, h.id, h.version_id) > ($4::xid8, $5, $6, $7)
        ORDER BY h.tx_id, h.resource_type, h.id, h.version_id
        LIMIT $8`,
      [w.fromXmax, w.fromXip, w.to, ...w.position, limit],
    );
    return r.rows.map((x: any) => ({ txId: x.tx_id, resourceType: x.resource_type, id: x.id, versionId: x.version_id, deleted: x.deleted }));
  }

  /** Records progress: inside the window after `last`, or (window done) the next window starts from `to`. */
  async advance(tx: Queryable, name: string, last: FeedChange | undefined): Promise<void> {
    if (last) {
      await tx.query(
        `UPDATE subscription_cursor SET tx_id = $2::xid8, resource_type = $3, id = $4, version_id = $5, updated_at = now() WHERE name = $1`,
        [name, last.txId, last.resourceType, last.id, last.versionId],
      );
    } else {
      await tx.query(
        `UPDATE subscription_cursor SET from_snapshot = to_snapshot, to_snapshot = NULL,
                tx_id = $2::xid8, resource_type = $3, id = $4, version_id = $5, updated_at = now()
          WHERE name = $1`,
        [name, ...START],
      );
    }
  }

  /** Moves to the end of the feed (nothing to match): the next window starts now. */
  async skipToEnd(q: Queryable, name: string): Promise<void> {
    await q.query(
      `INSERT INTO subscription_cursor (name, from_snapshot) VALUES ($1, pg_current_snapshot())
       ON CONFLICT (name) DO UPDATE SET from_snapshot = EXCLUDED.from_snapshot, to_snapshot = NULL,
              tx_id = '0', resource_type = '', id = '', version_id = 0, updated_at = now()`,
      [name],
    );
  }

  /** Current Subscriptions (JSON) and who wrote them (undefined: not recorded), for the matcher's list of active ones. */
  async subscriptions(q: Queryable): Promise<{ id: string; versionId: number; content: string; owner?: SubscriptionOwner }[]> {
    const r = await q.query(
      `SELECT r.id, r.version_id, r.content, o.owner FROM resource r LEFT JOIN subscription_owner o ON o.id = r.id
        WHERE r.resource_type = 'Subscription' AND NOT r.deleted`,
    );
    return r.rows.map((x: any) => ({ id: x.id, versionId: x.version_id, content: x.content, owner: x.owner ?? undefined }));
  }
}

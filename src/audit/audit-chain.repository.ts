import type { Queryable } from '../database/database';
import { AUDIT_ROW_SELECT, AuditRow } from './audit-chain';

/** The chain head row: last sealed position, sealer cursor, retention anchor. */
export interface ChainHead {
  seq: number;
  hash: Buffer;
  /** (tx, id) of the last sealed event: everything at or before it is sealed */
  cursorTx: string;
  cursorId: string;
  /** last position removed by retention (0: none) and its hash */
  anchorSeq: number;
  anchorHash: Buffer;
  anchoredAt?: Date;
}

export interface ChainLink {
  seq: number;
  eventId: string;
  hash: Buffer;
  /** undefined when the event row is gone */
  row?: AuditRow;
}

/** Owns the SQL of `audit_chain` and `audit_head`. */
export class AuditChainRepository {
  /** The head; `lock`: `skip` returns undefined when another sealer holds it, `wait` blocks. */
  async head(q: Queryable, lock: 'none' | 'skip' | 'wait' = 'none'): Promise<ChainHead | undefined> {
    const suffix = lock === 'skip' ? 'FOR UPDATE SKIP LOCKED' : lock === 'wait' ? 'FOR UPDATE' : '';
    const r = await q.query(
      `SELECT seq, hash, cursor_tx::text AS cursor_tx, cursor_id::text AS cursor_id, anchor_seq, anchor_hash, anchored_at
         FROM audit_head WHERE id = 1 ${suffix}`,
    );
    const h = r.rows[0];
    return h
      ? {
          seq: Number(h.seq),
          hash: h.hash,
          cursorTx: h.cursor_tx,
          cursorId: h.cursor_id,
          anchorSeq: Number(h.anchor_seq),
          anchorHash: h.anchor_hash,
          anchoredAt: h.anchored_at ?? undefined,
        }
      : undefined;
  }

  /**
   * Appends the links of up to `limit` sealable events (`audit_seal`, in the
   * caller's transaction): events after the cursor written by transactions
   * that have all ended (xid below the oldest running transaction), so no row
   * can commit later with a smaller (tx, id) and the chain order never has to
   * change. `sealed` -1: another sealer holds the head. `unhashed`: the walk
   * stopped at this event, whose writer left its row hash to the sealer.
   */
  async seal(q: Queryable, limit: number): Promise<{ sealed: number; unhashed?: string }> {
    const r = await q.query(`SELECT sealed, unhashed::text AS unhashed FROM audit_seal($1::int)`, [limit]);
    return { sealed: r.rows[0].sealed, unhashed: r.rows[0].unhashed ?? undefined };
  }

  /**
   * Sealable rows (as `audit_seal` walks them) whose writer left the row hash
   * to the sealer: a delete has no content to find its
   * Patients in, so its row is completed in SQL and hashed here.
   */
  async unhashedRows(q: Queryable, limit: number): Promise<AuditRow[]> {
    const r = await q.query<AuditRow>(
      `SELECT ${AUDIT_ROW_SELECT} FROM audit_event e, audit_head h
        WHERE h.id = 1 AND e.tx < pg_snapshot_xmin(pg_current_snapshot())
          AND (e.tx, e.id) > (h.cursor_tx, h.cursor_id) AND e.row_hash IS NULL
        ORDER BY e.tx, e.id LIMIT $1::int`,
      [limit],
    );
    return r.rows;
  }

  async setRowHashes(q: Queryable, hashes: Map<string, Buffer>): Promise<void> {
    await q.query(`UPDATE audit_event e SET row_hash = decode(u.h, 'hex') FROM unnest($1::uuid[], $2::text[]) AS u(id, h) WHERE e.id = u.id`, [
      [...hashes.keys()],
      [...hashes.values()].map((h) => h.toString('hex')),
    ]);
  }

  /** Links from `fromSeq` on, with their event rows (LEFT JOIN: a deleted event shows as no row). */
  async links(q: Queryable, fromSeq: number, limit: number): Promise<ChainLink[]> {
    const r = await q.query(
      `SELECT c.seq, c.event_id::text AS event_id, c.hash, e.id IS NOT NULL AS present, ${AUDIT_ROW_SELECT}
         FROM audit_chain c LEFT JOIN audit_event e ON e.id = c.event_id
        WHERE c.seq >= $1 ORDER BY c.seq LIMIT $2::int`,
      [fromSeq, limit],
    );
    return r.rows.map((x: any) => {
      const { seq, event_id, hash, present, ...row } = x;
      return { seq: Number(seq), eventId: event_id, hash, row: present ? (row as AuditRow) : undefined };
    });
  }

  /** Events inside the sealed range that no link covers: rows slipped in after sealing. */
  async unchained(q: Queryable, head: ChainHead, limit: number): Promise<{ id: string; tx: string }[]> {
    const r = await q.query(
      `SELECT e.id::text AS id, e.tx::text AS tx FROM audit_event e
        WHERE (e.tx, e.id) <= ($1::xid8, $2::uuid)
          AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)
        ORDER BY e.tx, e.id LIMIT $3::int`,
      [head.cursorTx, head.cursorId, limit],
    );
    return r.rows;
  }

  /** Events not sealed yet (written after the cursor). */
  async pending(q: Queryable, head: ChainHead): Promise<number> {
    const r = await q.query(`SELECT count(*)::int AS n FROM audit_event e WHERE (e.tx, e.id) > ($1::xid8, $2::uuid)`, [
      head.cursorTx,
      head.cursorId,
    ]);
    return r.rows[0].n;
  }

  /** Retention: removes links up to `seq` and their events, and anchors the chain there. */
  async cut(q: Queryable, seq: number, hash: Buffer, eventIds: string[]): Promise<void> {
    await q.query(`DELETE FROM audit_event WHERE id = ANY($1::uuid[])`, [eventIds]);
    await q.query(`DELETE FROM audit_chain WHERE seq <= $1`, [seq]);
    await q.query(`UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2, anchored_at = now() WHERE id = 1`, [seq, hash]);
  }
}

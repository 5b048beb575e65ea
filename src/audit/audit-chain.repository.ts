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

/** What the sealer needs of an event. */
export interface SealInput {
  tx: string;
  id: string;
  row_hash: Buffer | null;
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
   * Events after the cursor written by transactions that have all ended
   * (xid below the oldest running transaction): no row can commit later
   * with a smaller (tx, id), so the chain order never has to change.
   * Only keys and row hashes: the row itself is not read back.
   */
  async unsealed(q: Queryable, head: ChainHead, limit: number): Promise<SealInput[]> {
    const r = await q.query(
      `SELECT e.tx::text AS tx, e.id::text AS id, e.row_hash FROM audit_event e
        WHERE e.tx < pg_snapshot_xmin(pg_current_snapshot())
          AND (e.tx, e.id) > ($1::xid8, $2::uuid)
        ORDER BY e.tx, e.id
        LIMIT $3::int`,
      [head.cursorTx, head.cursorId, limit],
    );
    return r.rows;
  }

  /** Whole rows (for those whose writer left the row hash to the sealer). */
  async rows(q: Queryable, ids: string[]): Promise<AuditRow[]> {
    const r = await q.query<AuditRow>(`SELECT ${AUDIT_ROW_SELECT} FROM audit_event e WHERE e.id = ANY($1::uuid[])`, [ids]);
    return r.rows;
  }

  /** Appends links (and row hashes the sealer computed), and moves the head, in the caller's transaction. */
  async append(q: Queryable, links: { seq: number; eventId: string; hash: Buffer }[], last: SealInput, computed: Map<string, Buffer>): Promise<void> {
    // ids and hashes travel as one string each: far cheaper to bind than arrays of uuid and bytea
    await q.query(
      `INSERT INTO audit_chain (seq, event_id, hash)
       SELECT $1::bigint + i, (ids[i])::uuid, substring(hs FROM (i - 1) * 32 + 1 FOR 32)
         FROM (SELECT string_to_array($2::text, ',') AS ids, decode($3::text, 'hex') AS hs) x, generate_series(1, $4::int) AS i`,
      [links[0].seq - 1, links.map((l) => l.eventId).join(','), Buffer.concat(links.map((l) => l.hash)).toString('hex'), links.length],
    );
    if (computed.size) {
      await q.query(
        `UPDATE audit_event e SET row_hash = decode(u.h, 'hex') FROM unnest($1::uuid[], $2::text[]) AS u(id, h) WHERE e.id = u.id`,
        [[...computed.keys()], [...computed.values()].map((h) => h.toString('hex'))],
      );
    }
    const end = links[links.length - 1];
    await q.query(`UPDATE audit_head SET seq = $1, hash = $2, cursor_tx = $3::xid8, cursor_id = $4::uuid WHERE id = 1`, [
      end.seq,
      end.hash,
      last.tx,
      last.id,
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

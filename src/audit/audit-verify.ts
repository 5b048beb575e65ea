import type { Queryable } from '../database/database';
import { compareKey, linkHash, rowHash } from './audit-chain';
import { AuditChainRepository } from './audit-chain.repository';

export type ChainProblemKind = 'altered' | 'deleted' | 'inserted' | 'truncated';

export interface ChainProblem {
  kind: ChainProblemKind;
  /** chain position concerned (for `inserted`: the position after which the row sits) */
  seq: number;
  /** AuditEvent id concerned, when known */
  eventId?: string;
  detail: string;
}

export interface ChainReport {
  ok: boolean;
  /** positions checked (anchor + 1 .. head) */
  checked: number;
  headSeq: number;
  headHash: string;
  anchorSeq: number;
  anchorHash: string;
  /** rows written after the last seal (not chained yet) */
  pending: number;
  /** the first problem in chain order */
  first?: ChainProblem;
  problems: ChainProblem[];
}

const PAGE = 5000;
const MAX_PROBLEMS = 100;

/**
 * Walks the chain from the retention anchor to the head and recomputes every
 * link: an altered row (or link) fails its hash, a deleted row leaves a link
 * without its event or a gap in `seq`, a row inserted into the sealed range
 * has no link, and a cut tail no longer reaches the head.
 */
export async function verifyAuditChain(q: Queryable): Promise<ChainReport> {
  const repo = new AuditChainRepository();
  const head = await repo.head(q);
  if (!head) throw new Error('audit_head is missing: the audit migration has not run');
  const problems: (ChainProblem & { key?: { tx: string; id: string } })[] = [];
  let prev = head.anchorHash;
  let expected = head.anchorSeq + 1;
  let prevKey: { tx: string; id: string } | undefined;
  let checked = 0;
  for (let from = expected; ; ) {
    const links = await repo.links(q, from, PAGE);
    for (const link of links) {
      checked++;
      if (link.seq > expected) {
        problems.push({ kind: 'deleted', seq: expected, key: prevKey, detail: `links ${expected}..${link.seq - 1} are missing` });
      }
      expected = link.seq + 1;
      if (!link.row) {
        problems.push({ kind: 'deleted', seq: link.seq, eventId: link.eventId, key: prevKey, detail: 'the event row is gone' });
      } else {
        const key = { tx: link.row.tx, id: link.row.id };
        if (link.row.id !== link.eventId) {
          problems.push({ kind: 'altered', seq: link.seq, eventId: link.eventId, key, detail: 'link names another event' });
        } else if (link.row.row_hash && !rowHash(link.row).equals(link.row.row_hash)) {
          problems.push({ kind: 'altered', seq: link.seq, eventId: link.row.id, key, detail: 'the row does not match its row hash' });
        } else if (!linkHash(prev, link.seq, link.row.tx, rowHash(link.row)).equals(link.hash)) {
          problems.push({ kind: 'altered', seq: link.seq, eventId: link.row.id, key, detail: 'the link does not match the row' });
        } else if (prevKey && compareKey(prevKey, key) >= 0) {
          problems.push({ kind: 'altered', seq: link.seq, eventId: link.row.id, key, detail: 'row out of chain order' });
        }
        prevKey = key;
      }
      // continue from the stored hash so one bad row is reported once
      prev = link.hash;
      if (problems.length >= MAX_PROBLEMS) break;
    }
    if (links.length < PAGE || problems.length >= MAX_PROBLEMS) break;
    from = links[links.length - 1].seq + 1;
  }
  if (expected - 1 !== head.seq || !prev.equals(head.hash)) {
    problems.push({
      kind: expected - 1 < head.seq ? 'deleted' : 'truncated',
      seq: expected,
      key: prevKey,
      detail: `chain ends at ${expected - 1} but the head is at ${head.seq}`,
    });
  }
  for (const row of await repo.unchained(q, head, MAX_PROBLEMS)) {
    const after = Math.max(head.anchorSeq, await linkBefore(q, row));
    problems.push({ kind: 'inserted', seq: after, eventId: row.id, key: row, detail: `row without a link, after position ${after}` });
  }
  // an inserted row sits between position `seq` and the next one
  const at = (p: ChainProblem) => p.seq + (p.kind === 'inserted' ? 0.5 : 0);
  problems.sort((a, b) => at(a) - at(b) || (a.key && b.key ? compareKey(a.key, b.key) : 0));
  const pending = await repo.pending(q, head);
  const clean = problems.map(({ key: _k, ...p }) => p);
  return {
    ok: clean.length === 0,
    checked,
    headSeq: head.seq,
    headHash: head.hash.toString('hex'),
    anchorSeq: head.anchorSeq,
    anchorHash: head.anchorHash.toString('hex'),
    pending,
    first: clean[0],
    problems: clean,
  };
}

/** Position of an unlinked row: the last link whose event sorts before it. */
async function linkBefore(q: Queryable, row: { tx: string; id: string }): Promise<number> {
  const r = await q.query(
    `SELECT max(c.seq) AS seq FROM audit_chain c JOIN audit_event e ON e.id = c.event_id
      WHERE (e.tx, e.id) < ($1::xid8, $2::uuid)`,
    [row.tx, row.id],
  );
  return Number(r.rows[0].seq ?? 0);
}

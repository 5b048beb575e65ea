import { createHash } from 'crypto';

/**
 * An `audit_event` row as read by `AUDIT_ROW_SELECT`: every column in a
 * stable text form, so the sealer, `audit:verify` and the API all see the
 * same bytes (timestamps to the microsecond, transaction ids as text).
 */
export interface AuditRow {
  id: string;
  tx: string;
  recorded: string;
  type: string;
  subtype: string[];
  action: string;
  outcome: number;
  outcome_desc: string | null;
  client_id: string | null;
  user_ref: string | null;
  user_name: string | null;
  token_id: string | null;
  network: string | null;
  request_id: string | null;
  entity_type: string | null;
  entity_id: string | null;
  entity_version: number | null;
  query: string | null;
  patient: string[];
}

/** Columns of `audit_event e` in canonical order (the order of the hash input). */
export const AUDIT_ROW_SELECT = `e.id::text AS id, e.tx::text AS tx,
  to_char(e.recorded AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS recorded,
  e.type, e.subtype, e.action, e.outcome, e.outcome_desc, e.client_id, e.user_ref, e.user_name, e.token_id,
  e.network, e.request_id, e.entity_type, e.entity_id, e.entity_version, e.query, e.patient`;

const CANONICAL_KEYS: (keyof AuditRow)[] = [
  'id', 'tx', 'recorded', 'type', 'subtype', 'action', 'outcome', 'outcome_desc', 'client_id', 'user_ref', 'user_name',
  'token_id', 'network', 'request_id', 'entity_type', 'entity_id', 'entity_version', 'query', 'patient',
];

export const ZERO_HASH = Buffer.alloc(32);

/** The canonical form of a row: a JSON array of its columns in fixed order. */
export function canonicalRow(row: AuditRow): string {
  return JSON.stringify(CANONICAL_KEYS.map((k) => row[k] ?? null));
}

/** hash(seq) = SHA-256(hash(seq - 1) || seq as 8 bytes big-endian || canonical row, UTF-8). */
export function chainHash(previous: Buffer, seq: number, canonical: string): Buffer {
  const s = Buffer.alloc(8);
  s.writeBigUInt64BE(BigInt(seq));
  return createHash('sha256').update(previous).update(s).update(canonical, 'utf8').digest();
}

/** Total order of the chain: (tx, id), tx compared as a 64-bit number. */
export function compareKey(a: { tx: string; id: string }, b: { tx: string; id: string }): number {
  const ta = BigInt(a.tx);
  const tb = BigInt(b.tx);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

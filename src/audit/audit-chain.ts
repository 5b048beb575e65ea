import { digest, digestHex } from '../digest';
import type { AuditRecord } from './audit.types';
import { MAX_VERSION } from './audit-values';

/**
 * An `audit_event` row as read by `AUDIT_ROW_SELECT`: every column in a
 * stable text form, so writers, the sealer, `audit:verify` and the API all
 * see the same bytes (timestamps to the microsecond, transaction ids as text).
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
  /** SHA-256 of the canonical row, stored by the writer (null until the sealer computes it) */
  row_hash?: Buffer | null;
}

/** Columns of `audit_event e` (AuditRow), plus the stored row hash. */
export const AUDIT_ROW_SELECT = `e.id::text AS id, e.tx::text AS tx,
  to_char(e.recorded AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS recorded,
  e.type, e.subtype, e.action, e.outcome, e.outcome_desc, e.client_id, e.user_ref, e.user_name, e.token_id,
  e.network, e.request_id, e.entity_type, e.entity_id, e.entity_version, e.query, e.patient, e.row_hash`;

/** The columns a row hash covers, in order: everything but `tx` (assigned by the database, covered by the link). */
export const CANONICAL_KEYS: readonly (keyof AuditRow)[] = [
  'id', 'recorded', 'type', 'subtype', 'action', 'outcome', 'outcome_desc', 'client_id', 'user_ref', 'user_name',
  'token_id', 'network', 'request_id', 'entity_type', 'entity_id', 'entity_version', 'query', 'patient',
];

export const ZERO_HASH = Buffer.alloc(32);

/**
 * The canonical form of a row: a JSON array of its CANONICAL_KEYS columns in that order, a
 * missing value as null (as `JSON.stringify` writes undefined in an array). Written out column by
 * column: a `map` over the key list reads each property by a computed name, once per audited access.
 */
export function canonicalRow(r: Omit<AuditRow, 'tx'>): string {
  return JSON.stringify([
    r.id, r.recorded, r.type, r.subtype, r.action, r.outcome, r.outcome_desc, r.client_id, r.user_ref, r.user_name,
    r.token_id, r.network, r.request_id, r.entity_type, r.entity_id, r.entity_version, r.query, r.patient,
  ]);
}

/** The sealer hashes thousands of rows a second: one-shot. */
const sha256 = (data: string | Buffer): Buffer => digest('sha256', data);

/** row_hash = SHA-256(canonical row, UTF-8): computed by the writer, or by the sealer when the writer could not. */
export function rowHash(row: Omit<AuditRow, 'tx'>): Buffer {
  return sha256(canonicalRow(row));
}

/** rowHash as hex, as the writers bind it. */
export function rowHashHex(row: Omit<AuditRow, 'tx'>): string {
  return digestHex('sha256', canonicalRow(row));
}

const scratch = Buffer.alloc(32 + 8 + 24 + 32);

/** link(seq) = SHA-256(link(seq - 1) || seq as 8 bytes big-endian || tx as text || row_hash). */
export function linkHash(previous: Buffer, seq: number, tx: string, row: Buffer): Buffer {
  previous.copy(scratch, 0);
  scratch.writeBigUInt64BE(BigInt(seq), 32);
  const n = scratch.write(tx, 40, 24, 'latin1'); // a transaction id: at most 20 digits
  row.copy(scratch, 40 + n);
  return sha256(scratch.subarray(0, 72 + n));
}

/** Total order of the chain: (tx, id), tx compared as a 64-bit number. */
export function compareKey(a: { tx: string; id: string }, b: { tx: string; id: string }): number {
  const ta = BigInt(a.tx);
  const tb = BigInt(b.tx);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * A record as the row the database will hold, in the text forms it reads
 * back (so the writer's row hash is what the verifier recomputes): recorded
 * to the microsecond, text without NUL or lone surrogates (PostgreSQL
 * refuses them: an audit row must never fail on client-supplied text).
 */
export function toRow(id: string, r: AuditRecord): Omit<AuditRow, 'tx'> {
  return {
    id,
    recorded: `${r.recorded.toISOString().slice(0, 23)}000Z`,
    type: r.type,
    subtype: r.subtype.map(clean),
    action: r.action,
    outcome: r.outcome,
    outcome_desc: text(r.outcomeDesc),
    client_id: text(r.clientId),
    user_ref: text(r.userRef),
    user_name: text(r.userName),
    token_id: text(r.tokenId),
    network: text(r.network),
    request_id: text(r.requestId),
    entity_type: text(r.entityType),
    entity_id: text(r.entityId),
    entity_version: Number.isInteger(r.entityVersion) && r.entityVersion! >= 1 && r.entityVersion! <= MAX_VERSION ? r.entityVersion! : null,
    query: text(r.query),
    patient: r.patient.map(clean),
  };
}

function text(s: string | undefined): string | null {
  return s === undefined || s === null ? null : clean(s);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const SUSPECT = /[\u0000\ud800-\udfff]/;

function clean(s: string): string {
  return SUSPECT.test(s) ? s.replace(/\u0000/g, '').replace(LONE_SURROGATE, '\ufffd') : s;
}

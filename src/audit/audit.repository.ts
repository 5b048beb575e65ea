import type { Pool } from 'pg';
import type { Queryable } from '../database/database';
import type { WriteExtra } from '../fhir/storage/storage.types';
import { onlyWritten } from '../fhir/storage/resource.repository';
import { arrayLiteral, SqlParams } from '../fhir/storage/sql-params';
import { AUDIT_ROW_SELECT, AuditRow, rowHashHex, toRow } from './audit-chain';
import type { AuditRecord } from './audit.types';
import { patientsInBody } from './http-interaction';
import { uuidv7 } from '../uuidv7';

/** Who did a write, bound into the audit CTE of the write statement. */
export interface WriteAgent {
  clientId?: string;
  userRef?: string;
  userName?: string;
  tokenId?: string;
  network?: string;
  requestId?: string;
}

/**
 * The columns of an `audit_event` row as the writers bind them, with their types. Arrays inside a
 * row (subtype, patient) travel as the text of their literal and the hash as hex: `unnest` of a
 * two-dimensional array would flatten it.
 */
const COLUMNS: [keyof InsertedRow, string][] = [
  ['id', 'uuid'], ['recorded', 'timestamptz'], ['type', 'text'], ['subtype', 'text'], ['action', 'text'],
  ['outcome', 'smallint'], ['outcome_desc', 'text'], ['client_id', 'text'], ['user_ref', 'text'], ['user_name', 'text'],
  ['token_id', 'text'], ['network', 'text'], ['request_id', 'text'], ['entity_type', 'text'], ['entity_id', 'text'],
  ['entity_version', 'integer'], ['query', 'text'], ['patient', 'text'], ['row_hash', 'text'],
];
const NAMES = COLUMNS.map(([n]) => n);
const NESTED = new Set<string>(['subtype', 'patient']);

/** The value of a column as bound (see COLUMNS). */
function bound(row: InsertedRow, n: keyof InsertedRow): unknown {
  const v = row[n];
  return NESTED.has(n) && v !== null ? arrayLiteral(v as string[]) : v;
}

/**
 * The rows as a relation `x` with the columns of COLUMNS: one row binds scalars, more bind one
 * array per column, unnested in the select list (`FROM unnest(a, b, …)` is `ROWS FROM`, which fills
 * a tuplestore per column first: twice the cost at 2 rows). Parsing the batch as JSON
 * (`json_to_recordset`) cost the database about three times what storing the row did.
 */
function rowsSource(bind: (value: unknown, type: string) => string, rows: InsertedRow[]): string {
  if (rows.length === 1) return `(SELECT ${COLUMNS.map(([n, t]) => `${bind(bound(rows[0], n), t)} AS ${n}`).join(', ')}) AS x`;
  return `(SELECT ${COLUMNS.map(([n, t]) => `unnest(${bind(rows.map((r) => bound(r, n)), `${t}[]`)}) AS ${n}`).join(', ')}) AS x`;
}

/** A column of `x` as stored. */
const stored = (n: string): string => (n === 'row_hash' ? `decode(x.row_hash, 'hex')` : NESTED.has(n) ? `x.${n}::text[]` : `x.${n}`);
const INSERT = (source: string) => `INSERT INTO audit_event (${NAMES.join(', ')}) SELECT ${NAMES.map(stored).join(', ')} FROM ${source}`;

const WRITE_ACTIONS: Record<string, [string, AuditRecord['action']]> = {
  POST: ['create', 'C'],
  PUT: ['update', 'U'],
  PATCH: ['patch', 'U'],
  DELETE: ['delete', 'D'],
};

/**
 * A delete's Patients: those of the version it replaces (resource content is not in the delete itself),
 * found by `audit_patients` (migration AuditPatientsOnBase) as `patientsInBody` finds them; `base` bound.
 */
const PATIENT_OR_PREVIOUS = (base: string) => `coalesce(x.patient::text[], audit_patients(x.entity_type, x.entity_id, (SELECT h.content FROM resource_history h
    WHERE h.resource_type = x.entity_type AND h.id = x.entity_id AND h.version_id = x.entity_version - 1), ${base}))`;

/** The Patients a stored resource concerns: itself if a Patient, and every Patient it references. */
export function patientsOf(resourceType: string, id: string, content: string, base: string): string[] {
  const found = patientsInBody(content, base);
  if (resourceType === 'Patient' && !found.includes(id)) found.unshift(id);
  return found;
}

/** A record as inserted: its columns, and its row hash over exactly those values. */
type InsertedRow = Omit<AuditRow, 'tx' | 'row_hash'> & { row_hash: string | null };

function inserted(r: AuditRecord, id = uuidv7(r.recorded.getTime())): InsertedRow {
  const row = toRow(id, r);
  const hash = rowHashHex(row);
  (row as unknown as InsertedRow).row_hash = hash;
  return row as unknown as InsertedRow;
}

/*
 * Objects here are built field by field, not as `{ ...other, more }`: V8 (Node 20) builds a
 * literal that starts with a spread and goes on with more properties about 100× slower than one
 * listing them (measured: 10 µs against 0.06 µs for an audit record), once per audit row.
 */

/** Owns the SQL that writes and reads `audit_event`. */
export class AuditRepository {
  /** `baseUrl`: this server's FHIR base, for the Patients a written version references (`patientsOf`) */
  constructor(private readonly baseUrl = '') {}

  /** Many events in ONE statement (the group commit). */
  async insertMany(q: Queryable, records: AuditRecord[], prepared = false): Promise<void> {
    const p = new SqlParams();
    const text = INSERT(rowsSource(p.bind, records.map((r) => inserted(r))));
    // a named statement is parsed and planned once per connection (planning costs more than a small batch);
    // not on the embedded database, whose one session outlives the pool's connections
    if (prepared) await (q as unknown as Pool).query({ name: records.length === 1 ? 'audit_insert_one' : 'audit_insert_many', text, values: p.values });
    else await q.query(text, p.values);
  }

  /**
   * A CTE for the resource write statement (`ResourceRepository`): one audit
   * row per version actually written (the prepared rows joined with
   * `written`), in the same statement and therefore the same transaction as
   * the resource rows. Each row and its hash are made here from the version
   * (the Patients concerned found in its content); a delete has no content,
   * so its Patients come from the version it replaces, in SQL, and the
   * sealer hashes that row.
   */
  writeExtra(agent: WriteAgent): WriteExtra {
    return {
      ctes: (bind, writes, tag) => {
        const name = `audit_${tag}`;
        const rows = writes.map((w) => {
          const [subtype, action] = WRITE_ACTIONS[w.method];
          const record: AuditRecord = {
            clientId: agent.clientId,
            userRef: agent.userRef,
            userName: agent.userName,
            tokenId: agent.tokenId,
            network: agent.network,
            requestId: agent.requestId,
            recorded: w.lastUpdated,
            type: 'rest',
            subtype: [subtype],
            action: w.method === 'PUT' && w.versionId === 1 ? 'C' : action,
            outcome: 0,
            entityType: w.resourceType,
            entityId: w.id,
            entityVersion: w.versionId,
            patient: w.content === null ? [] : patientsOf(w.resourceType, w.id, w.content, this.baseUrl),
          };
          const row = inserted(record);
          if (w.content === null) Object.assign(row, { patient: null, row_hash: null });
          return row;
        });
        // planning the look-up of a deleted version's Patients costs more than the insert: only for deletes
        const deletes = writes.some((w) => w.content === null);
        const previous = deletes ? PATIENT_OR_PREVIOUS(bind(this.baseUrl, 'text')) : '';
        const column = (n: string) => (n === 'patient' && deletes ? previous : stored(n));
        return [
          `${name} AS (
          INSERT INTO audit_event (${NAMES.join(', ')})
          SELECT ${NAMES.map(column).join(', ')}
            FROM ${rowsSource(bind, rows)}
            ${onlyWritten(writes, 'x', 'entity_type', 'entity_id')})`,
        ];
      },
    };
  }

  /** `extra`: more select-list expressions (audit-access.ts: `full_view`) */
  async read(q: Queryable, id: string, where?: string, values: unknown[] = [], extra = ''): Promise<AuditRow | undefined> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
    const r = await q.query<AuditRow>(
      `SELECT ${AUDIT_ROW_SELECT}${extra} FROM audit_event e WHERE e.id = $${values.length + 1}::uuid${where ? ` AND (${where})` : ''}`,
      [...values, id],
    );
    return r.rows[0];
  }

  /** Rows matching `where` (bound in `values`), newest first, keyset paged. */
  async search(q: Queryable, where: string[], values: unknown[], limit: number, ascending: boolean, extra = ''): Promise<AuditRow[]> {
    const dir = ascending ? 'ASC' : 'DESC';
    const r = await q.query<AuditRow>(
      `SELECT ${AUDIT_ROW_SELECT}${extra} FROM audit_event e
        ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
        ORDER BY e.recorded ${dir}, e.id ${dir} LIMIT ${Number(limit)}`,
      values,
    );
    return r.rows;
  }

  async count(q: Queryable, where: string[], values: unknown[]): Promise<number> {
    const r = await q.query(`SELECT count(*)::int AS n FROM audit_event e ${where.length ? 'WHERE ' + where.join(' AND ') : ''}`, values);
    return r.rows[0].n;
  }
}

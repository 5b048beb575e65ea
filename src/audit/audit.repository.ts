import type { Pool } from 'pg';
import type { Queryable } from '../database/database';
import type { WriteExtra } from '../fhir/storage/storage.types';
import { AUDIT_ROW_SELECT, AuditRow } from './audit-chain';
import type { AuditRecord } from './audit.types';
import { patientsInBody } from './http-interaction';
import { uuidv7 } from './uuidv7';

/** Who did a write, bound into the audit CTE of the write statement. */
export interface WriteAgent {
  clientId?: string;
  userRef?: string;
  userName?: string;
  tokenId?: string;
  network?: string;
  requestId?: string;
}

const COLUMNS = `id uuid, recorded timestamptz, type text, subtype text[], action text, outcome smallint, outcome_desc text,
  client_id text, user_ref text, user_name text, token_id text, network text, request_id text, entity_type text,
  entity_id text, entity_version integer, query text, patient text[]`;
const NAMES = COLUMNS.split(',').map((c) => c.trim().split(/\s+/)[0]);
const INSERT_MANY = `INSERT INTO audit_event (${NAMES.join(', ')}) SELECT * FROM json_to_recordset($1::json) AS x(${COLUMNS})`;

let extraSeq = 0;

/** Owns the SQL that writes and reads `audit_event`. */
export class AuditRepository {
  /**
   * Many events in ONE statement (the group commit): the batch travels as one
   * JSON parameter, which is far cheaper to bind than a column array each.
   */
  async insertMany(q: Queryable, records: AuditRecord[], prepared = false): Promise<void> {
    const rows = records.map((r) => ({
      id: uuidv7(r.recorded.getTime()),
      recorded: r.recorded.toISOString(),
      type: r.type,
      subtype: r.subtype,
      action: r.action,
      outcome: r.outcome,
      outcome_desc: r.outcomeDesc ?? null,
      client_id: r.clientId ?? null,
      user_ref: r.userRef ?? null,
      user_name: r.userName ?? null,
      token_id: r.tokenId ?? null,
      network: r.network ?? null,
      request_id: r.requestId ?? null,
      entity_type: r.entityType ?? null,
      entity_id: r.entityId ?? null,
      entity_version: r.entityVersion ?? null,
      query: r.query ?? null,
      patient: r.patient,
    }));
    const values = [JSON.stringify(rows)];
    // a named statement is parsed and planned once per connection (planning costs more than a small batch);
    // not on the embedded database, whose one session outlives the pool's connections
    if (prepared) await (q as unknown as Pool).query({ name: 'audit_insert_many', text: INSERT_MANY, values });
    else await q.query(INSERT_MANY, values);
  }

  /**
   * A CTE for the resource write statement (`ResourceRepository`): one audit
   * row per version actually written (`w` joined with `written`), in the same
   * statement and therefore the same transaction as the resource rows. The
   * Patients concerned are found in the content here (a V8 regex: far
   * cheaper than one in SQL); a delete has no content, so for deletes only
   * they come from the version it replaces, in SQL.
   */
  writeExtra(agent: WriteAgent): WriteExtra {
    return {
      ctes: (bind, writes) => {
        const name = `audit_w${++extraSeq % 1_000_000}`;
        const v = (x: string | undefined) => bind(x ?? null, 'text');
        const patients = writes.map((w) => {
          if (w.content === null) return null;
          const found = patientsInBody(w.content);
          if (w.resourceType === 'Patient' && !found.includes(w.id)) found.unshift(w.id);
          return found.join(',');
        });
        return [
          `${name} AS (
          INSERT INTO audit_event (recorded, type, subtype, action, outcome, client_id, user_ref, user_name, token_id,
                                   network, request_id, entity_type, entity_id, entity_version, patient)
          SELECT w.last_updated, 'rest',
                 ARRAY[CASE w.method WHEN 'POST' THEN 'create' WHEN 'PUT' THEN 'update' WHEN 'PATCH' THEN 'patch' ELSE 'delete' END],
                 CASE WHEN w.method = 'DELETE' THEN 'D' WHEN w.method = 'POST' OR w.version_id = 1 THEN 'C' ELSE 'U' END,
                 0, ${v(agent.clientId)}, ${v(agent.userRef)}, ${v(agent.userName)}, ${v(agent.tokenId)},
                 ${v(agent.network)}, ${v(agent.requestId)}, w.resource_type, w.id, w.version_id,
                 CASE WHEN w.content IS NOT NULL THEN string_to_array(ap.patients, ',')
                      ELSE audit_patients(w.resource_type, w.id, (SELECT h.content FROM resource_history h
                        WHERE h.resource_type = w.resource_type AND h.id = w.id AND h.version_id = w.version_id - 1)) END
            FROM w JOIN written USING (resource_type, id)
            JOIN unnest(${bind(writes.map((w) => w.resourceType), 'text[]')}, ${bind(writes.map((w) => w.id), 'text[]')},
                        ${bind(patients, 'text[]')}) AS ap(resource_type, id, patients) USING (resource_type, id))`,
        ];
      },
    };
  }

  async read(q: Queryable, id: string, where?: string, values: unknown[] = []): Promise<AuditRow | undefined> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
    const r = await q.query<AuditRow>(
      `SELECT ${AUDIT_ROW_SELECT} FROM audit_event e WHERE e.id = $${values.length + 1}::uuid${where ? ` AND (${where})` : ''}`,
      [...values, id],
    );
    return r.rows[0];
  }

  /** Rows matching `where` (bound in `values`), newest first, keyset paged. */
  async search(q: Queryable, where: string[], values: unknown[], limit: number, ascending: boolean): Promise<AuditRow[]> {
    const dir = ascending ? 'ASC' : 'DESC';
    const r = await q.query<AuditRow>(
      `SELECT ${AUDIT_ROW_SELECT} FROM audit_event e
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

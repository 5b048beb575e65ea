import { Queryable, queryPrepared } from '../../database/database';
import { bindIndexRowColumns, indexRowColumns, ownerColumns } from './row-key';
import { SqlParams } from './sql-params';
import type { IndexTable, StoredVersion, VersionWrite, WriteExtra } from './storage.types';

const VERSION_COLUMNS = 'resource_type, id, version_id, last_updated, deleted, content';

function toStored(r: any): StoredVersion {
  return {
    resourceType: r.resource_type,
    id: r.id,
    versionId: r.version_id,
    lastUpdated: r.last_updated,
    deleted: r.deleted,
    method: r.method,
    content: r.content,
  };
}

/**
 * The end of a `SELECT … FROM <prepared rows> AS alias` that keeps only the rows of versions the
 * statement actually wrote (the `written` CTE), plus `conditions`. Several versions: a join on the
 * owner columns. One version: every row is its, so a one-time filter on `written` having its row
 * (the join was planned as a hash join over the prepared rows, whose count a prepared statement
 * does not know; database CPU of a Synthea create statement 700–760 → 600–620 µs without it).
 */
export function onlyWritten(writes: readonly VersionWrite[], alias: string, typeColumn: string, idColumn: string, conditions: string[] = []): string {
  const single = writes.length === 1;
  const join = single ? '' : `JOIN written ON written.resource_type = ${alias}.${typeColumn} AND written.id = ${alias}.${idColumn}`;
  const where = single ? ['EXISTS (SELECT FROM written)', ...conditions] : conditions;
  return [join, where.length ? `WHERE ${where.join(' AND ')}` : ''].filter(Boolean).join('\n          ');
}

/**
 * Owns the SQL of the `resource` and `resource_history` tables.
 *
 * A write of any number of versions is ONE statement: data-modifying CTEs
 * insert or update the current rows, append history, replace the search index
 * rows and add any extra rows (audit), all guarded by the rows actually
 * written. Outside a transaction that statement is its own transaction, so a
 * plain create or update costs one round trip and one commit.
 */
export class ResourceRepository {
  constructor(private readonly indexTables: IndexTable[]) {}

  async readCurrent(q: Queryable, resourceType: string, id: string): Promise<StoredVersion | undefined> {
    const r = await queryPrepared(
      q,
      `SELECT ${VERSION_COLUMNS} FROM resource WHERE resource_type = $1 AND id = $2`,
      [resourceType, id],
    );
    return r.rows.length ? toStored(r.rows[0]) : undefined;
  }

  /** Current row locked for update (inside a transaction). */
  async readCurrentForUpdate(q: Queryable, resourceType: string, id: string): Promise<StoredVersion | undefined> {
    const r = await queryPrepared(
      q,
      `SELECT ${VERSION_COLUMNS} FROM resource WHERE resource_type = $1 AND id = $2 FOR UPDATE`,
      [resourceType, id],
    );
    return r.rows.length ? toStored(r.rows[0]) : undefined;
  }

  async readVersion(q: Queryable, resourceType: string, id: string, versionId: number): Promise<StoredVersion | undefined> {
    const r = await queryPrepared(
      q,
      `SELECT ${VERSION_COLUMNS}, method FROM resource_history WHERE resource_type = $1 AND id = $2 AND version_id = $3`,
      [resourceType, id, versionId],
    );
    return r.rows.length ? toStored(r.rows[0]) : undefined;
  }

  /** Current, non-deleted rows of many resources at once. */
  async readMany(q: Queryable, refs: { resourceType: string; id: string }[]): Promise<StoredVersion[]> {
    if (refs.length === 0) return [];
    const r = await q.query(
      `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
         FROM unnest($1::text[], $2::text[]) AS k(resource_type, id)
         JOIN resource r ON r.resource_type = k.resource_type AND r.id = k.id
        WHERE NOT r.deleted`,
      [refs.map((x) => x.resourceType), refs.map((x) => x.id)],
    );
    return r.rows.map(toStored);
  }

  /**
   * Inserts new resources (versions with no expectedVersion). An id that
   * already exists is skipped; the keys (`Type/id`) actually inserted are returned.
   */
  async insertVersions(q: Queryable, writes: VersionWrite[], extras: WriteExtra[] = []): Promise<Set<string>> {
    if (writes.length === 0) return new Set();
    const p = new SqlParams();
    const w = this.versionsCte(p, writes, false);
    const ctes = [
      `w AS (${w})`,
      `written AS (
        INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
        SELECT resource_type, id, version_id, last_updated, deleted, content FROM w
        ON CONFLICT (resource_type, id) DO NOTHING
        RETURNING resource_type, id)`,
      ...this.historyAndIndexCtes(p, writes, false),
      ...extras.flatMap((e, i) => e.ctes(p.bind, writes, `x${i}`)),
    ];
    return this.run(q, ctes, p, writes.length);
  }

  /**
   * Writes new versions of existing resources (updates and deletes), each only
   * if the current version still equals `expectedVersion`; returns the keys written.
   */
  async updateVersions(q: Queryable, writes: VersionWrite[], extras: WriteExtra[] = []): Promise<Set<string>> {
    if (writes.length === 0) return new Set();
    const p = new SqlParams();
    const w = this.versionsCte(p, writes, true);
    const ctes = [
      `w AS (${w})`,
      `written AS (
        UPDATE resource r
           SET version_id = w.version_id, last_updated = w.last_updated, deleted = w.deleted, content = w.content
          FROM w
         WHERE r.resource_type = w.resource_type AND r.id = w.id AND r.version_id = w.expected_version
        RETURNING r.resource_type, r.id)`,
      ...this.historyAndIndexCtes(p, writes, true),
      ...extras.flatMap((e, i) => e.ctes(p.bind, writes, `x${i}`)),
    ];
    return this.run(q, ctes, p, writes.length);
  }

  /**
   * The versions as rows `w`. One version binds scalars: a row count the planner knows, so the
   * prepared statement's generic plan costs what a custom plan does and PostgreSQL keeps it (an
   * `unnest` is estimated at 10 rows without its values: the generic plan looked dearer, and every
   * create and update was planned anew, a third of the database's CPU per update).
   */
  private versionsCte(p: SqlParams, writes: VersionWrite[], withExpected: boolean): string {
    const columns: [string, string, (x: VersionWrite) => unknown][] = [
      ['resource_type', 'text', (x) => x.resourceType],
      ['id', 'text', (x) => x.id],
      ['version_id', 'int', (x) => x.versionId],
      ['last_updated', 'timestamptz', (x) => x.lastUpdated.toISOString()],
      ['deleted', 'boolean', (x) => x.deleted],
      ['method', 'text', (x) => x.method],
      ['content', 'text', (x) => x.content],
    ];
    if (withExpected) columns.push(['expected_version', 'int', (x) => x.expectedVersion ?? 0]);
    if (writes.length === 1) return `SELECT ${columns.map(([name, type, get]) => `${p.bind(get(writes[0]), type)} AS ${name}`).join(', ')}`;
    const arrays = columns.map(([, type, get]) => p.bind(writes.map(get), `${type}[]`));
    return `SELECT * FROM unnest(${arrays.join(', ')}) AS t(${columns.map(([name]) => name).join(', ')})`;
  }

  /**
   * History rows, and the index rows of the versions written. An update (`replaceIndex`) keeps the
   * rows its new version produces again and replaces only the others: each row carries its
   * `row_key` (row-key.ts), the old rows whose key is not among the new ones are deleted and the
   * new rows whose key is not among the old ones inserted (an update changing a few values
   * rewrites a few rows, not all; rows without a key, from before the SearchIndexRowKey
   * migration, are always replaced).
   */
  private historyAndIndexCtes(p: SqlParams, writes: VersionWrite[], replaceIndex: boolean): string[] {
    const ctes = [
      `hist AS (
        INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, method, content)
        SELECT w.resource_type, w.id, w.version_id, w.last_updated, w.deleted, w.method, w.content
          FROM w JOIN written USING (resource_type, id))`,
    ];
    this.indexTables.forEach((t, i) => {
      const [keyType, keyId] = ownerColumns(t);
      const rows = indexRowColumns(
        t,
        writes.map((w) => ({ resourceType: w.resourceType, id: w.id, rows: w.index?.get(t.table) })),
      );
      if (!replaceIndex && rows.types.length === 0) return;
      // NOT IN a subquery: hashed on every PostgreSQL version (a Bundle of updates holds thousands of keys)
      const keyArray = p.bind(rows.keys, 'bigint[]');
      if (replaceIndex) {
        ctes.push(`del_${i} AS (
          DELETE FROM ${t.table} x USING written
           WHERE x.${keyType} = written.resource_type AND x.${keyId} = written.id
             AND (x.row_key IS NULL OR x.row_key NOT IN (SELECT unnest(${keyArray}))))`);
      }
      if (rows.types.length === 0) return;
      const { names, arrays } = bindIndexRowColumns(p, t, rows, keyArray);
      const kept = replaceIndex
        ? [`x.row_key NOT IN (SELECT o.row_key FROM ${t.table} o JOIN written ON o.${keyType} = written.resource_type AND o.${keyId} = written.id
                                  WHERE o.row_key IS NOT NULL)`]
        : [];
      ctes.push(`ins_${i} AS (
        INSERT INTO ${t.table} (${names.join(', ')})
        SELECT x.* FROM unnest(${arrays.join(', ')}) AS x(${names.join(', ')})
          ${onlyWritten(writes, 'x', keyType, keyId, kept)})`);
    });
    return ctes;
  }

  private async run(q: Queryable, ctes: string[], p: SqlParams, count: number): Promise<Set<string>> {
    const sql = `WITH ${ctes.join(',\n')}\nSELECT resource_type, id FROM written`;
    // a single-resource write has one of a few texts: prepared, it skips planning the CTEs every time;
    // bundles stay unprepared (their best plan depends on how many rows the arrays hold; preparing
    // Bundles of up to 32 resources was measured: no gain for fhir-load's transactions)
    const r = await queryPrepared<{ resource_type: string; id: string }>(q, sql, p.values, count === 1);
    return new Set(r.rows.map((x) => `${x.resource_type}/${x.id}`));
  }
}

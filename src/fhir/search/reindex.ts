import type { Resource } from 'fhir/r4';
import type { Database, Queryable } from '../../database/database';
import { logger } from '../../logger';
import { bindIndexRowColumns, indexRowColumns, ownerColumns } from '../storage/row-key';
import { SqlParams } from '../storage/sql-params';
import { gatherCustomParameters, CustomParameterState } from './custom-params';
import type { IndexTable } from '../storage/storage.types';
import { INDEX_TABLES } from './index-tables';
import { OwnerDatesState } from './owner-dates';
import type { SearchIndexer } from './search-indexer';

export interface ReindexProgress {
  resourceType: string;
  /** resources of this type reindexed so far */
  done: number;
  /** resources of this type (estimate at start) */
  total: number;
  /** all types so far */
  overall: number;
}

export interface ReindexOptions {
  /** types to rebuild; default every type */
  types?: string[];
  batchSize?: number;
  onProgress?: (p: ReindexProgress) => void;
  signal?: AbortSignal;
}

export interface ReindexResult {
  resources: number;
  seconds: number;
  customParameters: number;
}

/**
 * Rebuilds the search index of stored resources (after a definition change:
 * custom SearchParameters), in batches while the server keeps serving.
 * First the custom parameters are gathered (stored SearchParameter resources
 * and fhir-profiles/) and put in force for every process, so new writes are
 * indexed with them; then each type is walked in id order, one short
 * transaction per batch that locks the batch's current rows, deletes their
 * index rows and writes fresh ones. A final pass redoes the resources written
 * while the rebuild ran (a write that waited on a batch's lock could otherwise
 * keep rows of the version before it).
 */
export class Reindexer {
  constructor(
    private readonly db: Database,
    private readonly indexer: SearchIndexer,
    private readonly profilesDir: string,
  ) {}

  async run(opts: ReindexOptions = {}): Promise<ReindexResult> {
    const started = Date.now();
    const since = new Date(started - 1000);
    const registry = this.indexer.registry;
    const custom = await gatherCustomParameters(this.db, registry, this.profilesDir);
    await new CustomParameterState(this.db).write(custom);
    registry.setCustom(custom);
    const types = opts.types?.length ? opts.types : registry.resourceTypes;
    const batchSize = opts.batchSize ?? 500;
    let overall = 0;
    for (const resourceType of types) {
      const total = await this.estimate(resourceType);
      if (total === 0) continue;
      let after = '';
      let done = 0;
      for (;;) {
        if (opts.signal?.aborted) throw new Error('reindex aborted');
        const n = await this.batch(resourceType, { after, limit: batchSize }, (last) => (after = last));
        if (n === 0) break;
        done += n;
        overall += n;
        opts.onProgress?.({ resourceType, done, total: Math.max(total, done), overall });
      }
      for (const t of INDEX_TABLES) {
        const [kt, ki] = ownerColumns(t);
        await this.db.query(`DELETE FROM ${t.table} x USING resource r WHERE x.${kt} = $1 AND r.resource_type = x.${kt} AND r.id = x.${ki} AND r.deleted`, [resourceType]);
      }
    }
    // resources written meanwhile, by anyone
    const touched = await this.db.query<{ resource_type: string; id: string }>(
      `SELECT resource_type, id FROM resource WHERE last_updated >= $1 AND resource_type = ANY($2::text[]) AND NOT deleted`,
      [since.toISOString(), types],
    );
    for (let i = 0; i < touched.rows.length; i += batchSize) {
      const chunk = touched.rows.slice(i, i + batchSize);
      for (const t of new Set(chunk.map((x) => x.resource_type))) {
        await this.batch(t, { ids: chunk.filter((x) => x.resource_type === t).map((x) => x.id) }, () => undefined);
      }
    }
    // every type rebuilt: every resource has its owner date rows now (owner-dates.ts)
    if (!opts.types?.length) await OwnerDatesState.markReady(this.db);
    const result = { resources: overall, seconds: Math.round((Date.now() - started) / 100) / 10, customParameters: custom.length };
    logger.info(result, 'reindex finished');
    return result;
  }

  private async estimate(resourceType: string): Promise<number> {
    const r = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource WHERE resource_type = $1 AND NOT deleted`, [resourceType]);
    return r.rows[0].n;
  }

  /** One batch in one transaction: lock the current rows, replace their index rows. Returns how many. */
  private batch(resourceType: string, which: { after?: string; limit?: number; ids?: string[] }, last: (id: string) => void): Promise<number> {
    return this.db.transaction(async (tx) => {
      const rows = which.ids
        ? await tx.query<{ id: string; content: string }>(
            `SELECT id, content FROM resource WHERE resource_type = $1 AND id = ANY($2::text[]) AND NOT deleted ORDER BY id FOR UPDATE`,
            [resourceType, which.ids],
          )
        : await tx.query<{ id: string; content: string }>(
            `SELECT id, content FROM resource WHERE resource_type = $1 AND id > $2 AND NOT deleted ORDER BY id LIMIT $3 FOR UPDATE`,
            [resourceType, which.after, which.limit],
          );
      if (rows.rows.length === 0) return 0;
      last(rows.rows[rows.rows.length - 1].id);
      const ids = rows.rows.map((r) => r.id);
      const resources = rows.rows.map((r) => ({ id: r.id, rows: this.indexer.extract(JSON.parse(r.content) as Resource) }));
      for (const t of INDEX_TABLES) {
        const [kt, ki] = ownerColumns(t);
        await tx.query(`DELETE FROM ${t.table} WHERE ${kt} = $1 AND ${ki} = ANY($2::text[])`, [resourceType, ids]);
        await this.insert(tx, t, resourceType, resources);
      }
      return rows.rows.length;
    });
  }

  private async insert(tx: Queryable, t: IndexTable, resourceType: string, resources: { id: string; rows: Map<string, unknown[][]> }[]): Promise<void> {
    // with the keys storage gives the rows (row-key.ts): the next update keeps those unchanged
    const rows = indexRowColumns(t, resources.map((r) => ({ resourceType, id: r.id, rows: r.rows.get(t.table) })));
    if (!rows.ids.length) return;
    const p = new SqlParams();
    const { names, arrays } = bindIndexRowColumns(p, t, rows);
    await tx.query(`INSERT INTO ${t.table} (${names.join(', ')}) SELECT * FROM unnest(${arrays.join(', ')})`, p.values);
  }
}


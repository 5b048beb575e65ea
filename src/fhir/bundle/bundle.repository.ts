import type { Queryable } from '../../database/database';
import type { StoredVersion } from '../storage/storage.types';

/** `Type/id` */
export type ResourceKey = string;

/** The SQL only batch/transaction processing and conditional interactions need. */
export class BundleRepository {
  /**
   * Takes a transaction-scoped advisory lock per condition (released at
   * commit or rollback). Keys are 64-bit hashes of the normalized condition
   * text, taken in ascending hash order so two transactions that share
   * conditions queue instead of deadlocking.
   */
  async lockConditions(q: Queryable, conditions: string[]): Promise<void> {
    if (!conditions.length) return;
    await q.query(
      `SELECT pg_advisory_xact_lock(k)
         FROM (SELECT DISTINCT hashtextextended(c, 0) AS k FROM unnest($1::text[]) AS c ORDER BY 1) AS s`,
      [conditions],
    );
  }

  /**
   * Current rows (deleted ones too) of the resources a transaction changes,
   * locked FOR UPDATE in key order (a fixed order avoids deadlocks between
   * transactions touching the same resources).
   */
  async lockCurrent(q: Queryable, keys: { resourceType: string; id: string }[]): Promise<Map<ResourceKey, StoredVersion>> {
    const out = new Map<ResourceKey, StoredVersion>();
    if (!keys.length) return out;
    const r = await q.query(
      `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
         FROM resource r
         JOIN unnest($1::text[], $2::text[]) AS k(resource_type, id)
           ON r.resource_type = k.resource_type AND r.id = k.id
        ORDER BY r.resource_type, r.id
          FOR UPDATE OF r`,
      [keys.map((k) => k.resourceType), keys.map((k) => k.id)],
    );
    for (const row of r.rows) {
      out.set(`${row.resource_type}/${row.id}`, {
        resourceType: row.resource_type,
        id: row.id,
        versionId: row.version_id,
        lastUpdated: row.last_updated,
        deleted: row.deleted,
        content: row.content,
      });
    }
    return out;
  }
}

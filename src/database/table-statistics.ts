import { logger } from '../logger';
import type { Database } from './database';

/** The tables whose planner statistics decide the search plans. */
const TABLES = ['search_index', 'search_index_contained', 'resource', 'resource_history'];
/**
 * Arbitrary advisory-lock class: one process of several analyzes a schema at a time. The second
 * key is the schema, so deployments (or test runs) in other schemas of the database never wait.
 */
const ANALYZE_LOCK = 72_026_040;

interface TableActivity {
  relname: string;
  reltuples: number;
  n_mod_since_analyze: number;
}

/**
 * Keeps PostgreSQL's planner statistics current while data grows fast.
 *
 * Search plans hinge on the row estimates of `search_index` (which hash is
 * selective, which index drives the join). Autovacuum re-analyzes only after
 * its naptime (1 min) and 10 % growth, so right after a bulk load (a fresh
 * server taking a first Synthea import, a device stream) the planner still
 * believes the table is empty and picks plans a thousand times slower
 * (measured: 160 ms → 0.6 ms for `Observation?subject=…&code=…` once analyzed).
 * This checks the tables' modification counters every few seconds and runs
 * `ANALYZE` when a table changed by as many rows as it had at its last
 * analyze (it doubled, say): plans turn on orders of magnitude, and an
 * `ANALYZE` of `search_index` is not cheap (a 90,000-row sample, see migration
 * SearchIndexStatisticsSample, and its GIN pending lists merged: ~0.6 s of
 * database CPU at 570,000 rows; at every fifth of growth, with a larger sample,
 * it took a quarter of the CPU of a bulk load from empty).
 * Autovacuum's own 10 % threshold keeps the statistics fresh after that.
 * Cheap otherwise: one catalog query per interval.
 */
export class TableStatistics {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly db: Database,
    private readonly intervalMs: number,
    /** rows changed before a table is worth re-analyzing even when small */
    private readonly minChanges = 1000,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Analyzes the tables that changed enough; returns their names. */
  async check(): Promise<string[]> {
    if (this.running) return [];
    this.running = true;
    try {
      const { rows } = await this.db.query<TableActivity>(
        `SELECT c.relname, c.reltuples::float8 AS reltuples, s.n_mod_since_analyze::float8 AS n_mod_since_analyze
           FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
          WHERE s.schemaname = current_schema() AND s.relname = ANY($1::text[])`,
        [TABLES],
      );
      const stale = rows
        .filter((t) => t.n_mod_since_analyze >= this.minChanges && t.n_mod_since_analyze >= Math.max(t.reltuples, 0))
        .map((t) => t.relname);
      if (stale.length && (await this.analyze(stale))) return stale;
      return [];
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'table statistics check failed');
      return [];
    } finally {
      this.running = false;
    }
  }

  /** False when another process holds the lock (it is analyzing the same tables). */
  private async analyze(tables: string[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query('SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema())) AS got', [
        ANALYZE_LOCK,
      ]);
      if (!rows[0].got) return false;
      const started = Date.now();
      // names come from the fixed TABLES list, never from input
      await tx.query(`ANALYZE ${tables.map((t) => `"${t}"`).join(', ')}`);
      logger.info({ tables, ms: Date.now() - started }, 'planner statistics refreshed');
      return true;
    });
  }
}

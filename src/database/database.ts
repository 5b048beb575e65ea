import { createHash } from 'crypto';
import { Client, Pool, PoolClient, QueryResult, QueryResultRow, types } from 'pg';
import { DataSource } from 'typeorm';
import { migrations } from '../../migrations';
import { logger } from '../logger';
import { EmbeddedPostgres } from './embedded-postgres';

// int8 (counts, sequences) as JS numbers; timestamptz stays a Date
types.setTypeParser(20, (v) => Number(v));

/** Anything that can run a query: the pool or a client inside a transaction. */
export interface Queryable {
  query<R extends QueryResultRow = any>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

const MIGRATION_LOCK = 7_202_604_001;

/**
 * Named (prepared) statements: PostgreSQL parses and plans them once per
 * connection instead of at every call (planning a key look-up costs more than
 * running it). Off on the embedded database, whose one session outlives the
 * pool's connections (a re-prepared name would clash). Bounded: past
 * MAX_PREPARED distinct texts, statements run unnamed.
 */
let preparedEnabled = false;
const MAX_PREPARED = 256;
const preparedNames = new Map<string, string>();

/**
 * Runs `text` as a prepared statement. Only for statements whose text holds
 * no values (all bound) and comes from a bounded set of shapes: key look-ups,
 * single-resource writes, search statements. PostgreSQL plans the first five
 * executions for their values, then keeps one generic plan only if it costs
 * no more than those did. `prepared = false` runs it unnamed (the caller's
 * plan depends on the values).
 */
export function queryPrepared<R extends QueryResultRow = any>(q: Queryable, text: string, values: unknown[], prepared = true): Promise<QueryResult<R>> {
  if (!preparedEnabled || !prepared) return q.query<R>(text, values);
  let name = preparedNames.get(text);
  if (name === undefined) {
    if (preparedNames.size >= MAX_PREPARED) return q.query<R>(text, values);
    name = `p_${createHash('sha1').update(text).digest('base64url')}`;
    preparedNames.set(text, name);
  }
  return (q as unknown as Pool).query<R>({ name, text, values: values as any[] });
}

export interface DatabaseOptions {
  /** postgres:// URL; undefined starts the embedded database */
  url?: string;
  /** embedded database folder; undefined: in memory */
  dataDir?: string;
  poolSize: number;
  /** schema to use (tests isolate themselves in a fresh schema) */
  schema?: string;
  /** the server at `url` is an embedded PGlite (tests): one connection only */
  urlIsEmbedded?: boolean;
  /** named statements for the hot key look-ups and writes (off behind a transaction-mode connection pooler) */
  preparedStatements?: boolean;
}

/**
 * The one connection pool of the process, plus the migration runner.
 * Repositories run hand-written SQL through `query` / `transaction`;
 * TypeORM runs the migrations in `migrations/` (never `synchronize`).
 */
export class Database implements Queryable {
  private constructor(
    readonly pool: Pool,
    private readonly dataSource: DataSource,
    private readonly embedded: EmbeddedPostgres | undefined,
    readonly schema: string | undefined,
    private readonly url: string,
  ) {}

  get isEmbedded(): boolean {
    return this.embedded !== undefined;
  }

  static async connect(opts: DatabaseOptions): Promise<Database> {
    const embedded = opts.url ? undefined : await EmbeddedPostgres.start(opts.dataDir);
    const url = opts.url ?? embedded!.url;
    if (opts.schema) await createSchema(url, opts.schema);
    const dataSource = new DataSource({
      type: 'postgres',
      url,
      schema: opts.schema,
      synchronize: false,
      migrationsRun: false,
      migrations,
      migrationsTableName: 'typeorm_migrations',
      logging: false,
      extra: {
        // PGlite is one session: the socket server interleaves the protocol
        // messages of concurrent connections, so the embedded database gets
        // exactly one connection (requests queue for it in the pool).
        max: embedded || opts.urlIsEmbedded ? 1 : opts.poolSize,
        // search_path per connection keeps tests isolated in their own schema
        // (a startup option would be simpler, but the embedded server ignores those)
        onConnect: opts.schema
          ? (client: PoolClient) => client.query(`SET search_path TO "${opts.schema}", public`)
          : undefined,
        idleTimeoutMillis: 30_000,
        // no JIT compilation: every statement here is index-driven and returns a page, and JIT (on by
        // default) compiled any whose estimated cost passed jit_above_cost, which nested loops over
        // hash look-ups do (the distinct values of `search_index.hash` are millions, and any sample
        // underestimates them): ~8 ms of compiling for a search executing in 1 ms (README "JIT")
        ...(embedded || opts.urlIsEmbedded ? {} : { options: '-c jit=off' }),
      },
    });
    await dataSource.initialize();
    const pool = (dataSource.driver as any).master as Pool;
    preparedEnabled = opts.preparedStatements !== false && !(embedded || opts.urlIsEmbedded);
    pool.on('error', (err) => logger.error({ err: err.message }, 'idle database connection failed'));
    return new Database(pool, dataSource, embedded, opts.schema, url);
  }

  /**
   * A connection of its own, outside the pool (for LISTEN, which holds its
   * session for the life of the process: taken from the pool, it would leave
   * one connection fewer for requests). The caller ends it. Not on the
   * embedded database, which has one session.
   */
  async dedicatedClient(): Promise<Client> {
    const client = new Client({ connectionString: this.url });
    await client.connect();
    if (this.schema) await client.query(`SET search_path TO "${this.schema}", public`);
    return client;
  }

  /** Runs pending migrations under an advisory lock so several processes can start at once. */
  async migrate(): Promise<string[]> {
    // the lock is held on its own connection, outside the pool the migrations use
    const client = new Client({ connectionString: this.url });
    await client.connect();
    try {
      // polled, not awaited in pg_advisory_lock: a backend blocked in a statement holds a snapshot, and a
      // CREATE INDEX CONCURRENTLY in the migrating process waits for every older snapshot to end
      while (!(await client.query('SELECT pg_try_advisory_lock($1) AS got', [MIGRATION_LOCK])).rows[0].got) {
        await new Promise((r) => setTimeout(r, 250));
      }
      const ran = await this.dataSource.runMigrations({ transaction: 'each' });
      return ran.map((m) => m.name);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
      await client.end();
    }
  }

  query<R extends QueryResultRow = any>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    return this.pool.query<R>(text, values as any[]);
  }

  /** Runs fn in one database transaction; rolls back on any error. */
  async transaction<T>(fn: (tx: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.dataSource.destroy().catch(() => undefined);
    await this.embedded?.stop();
  }

  /** Drops the schema (tests only). */
  async dropSchema(): Promise<void> {
    if (this.schema) await this.pool.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
  }
}

async function createSchema(url: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error('invalid schema name');
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } finally {
    await pool.end();
  }
}

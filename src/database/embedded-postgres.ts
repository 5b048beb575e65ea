import * as fs from 'fs';
import * as net from 'net';
import { Extension, PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { logger } from '../logger';

/**
 * The embedded PostgreSQL: PGlite (Postgres compiled to WASM) served over the
 * wire protocol on a loopback port, so the ordinary `pg` driver, TypeORM and
 * every query of the server run unchanged on it.
 *
 * PGlite runs one transaction at a time across all connections: callers must
 * never wait on a second connection while holding a transaction open.
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    readonly url: string,
  ) {}

  /** dataDir undefined: in-memory database (tests). */
  static async start(dataDir?: string): Promise<EmbeddedPostgres> {
    if (dataDir) fs.mkdirSync(dataDir, { recursive: true });
    const db = await PGlite.create({
      dataDir: dataDir ? `${dataDir}/pgdata` : undefined,
      extensions: contribExtensions(),
    });
    const port = await freePort();
    const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 100 });
    await server.start();
    logger.info({ embedded: true, dataDir: dataDir ?? ':memory:' }, 'embedded PostgreSQL started');
    return new EmbeddedPostgres(db, server, `postgres://postgres@127.0.0.1:${port}/postgres`);
  }

  /** Stops accepting connections and closes the database cleanly (flushes files). */
  async stop(): Promise<void> {
    await this.server.stop();
    await this.db.close();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Contrib extensions compiled into PGlite must be loaded explicitly. The
 * package's contrib typings are ESM-only, so they are required by path
 * (its exports map serves the CommonJS build).
 */
function contribExtensions(): Record<string, Extension> {
  const load = (name: string): Extension => require(`@electric-sql/pglite/contrib/${name}`)[name];
  return { pg_trgm: load('pg_trgm'), unaccent: load('unaccent'), btree_gin: load('btree_gin') };
}

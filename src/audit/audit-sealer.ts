import type { Database } from '../database/database';
import { logger } from '../logger';
import { linkHash, rowHash } from './audit-chain';
import { AuditChainRepository } from './audit-chain.repository';

const BATCH = 2000;

/**
 * Chains audit rows into the tamper-evident hash chain after they commit.
 *
 * Rows are written without a hash (group commit and write statements never
 * wait for each other or for a global lock); the sealer, in whichever server
 * process gets the head row lock (`FOR UPDATE SKIP LOCKED`: one sealer at a
 * time, the others skip), takes the rows of transactions that have all
 * ended (xid below `pg_snapshot_xmin`), in (tx, id) order, and appends one
 * link per row: SHA-256(previous link || seq || tx || row_hash), where
 * row_hash (SHA-256 of the canonical row) was stored by the writer. Because
 * rows below the xid horizon can no longer appear, the order it fixes is final.
 */
export class AuditSealer {
  private readonly chain = new AuditChainRepository();
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  private lastLogged = -1;

  constructor(private readonly db: Database) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.seal().catch((err) => logger.warn({ err: err?.message }, 'audit sealing failed; will retry'));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Seals what is sealable now, in batches; returns the number of rows chained. */
  seal(): Promise<number> {
    if (!this.running) {
      this.running = this.sealAvailable().finally(() => (this.running = undefined));
    }
    return this.running;
  }

  /**
   * Seals until no unsealed row remains (rows of transactions still running
   * are waited for, up to `timeoutMs`): for shutdown, tests and audit:verify.
   */
  async sealAll(timeoutMs = 30_000): Promise<number> {
    const until = Date.now() + timeoutMs;
    let total = 0;
    for (;;) {
      total += await this.seal();
      const head = await this.chain.head(this.db);
      if (!head || (await this.chain.pending(this.db, head)) === 0 || Date.now() > until) return total;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async sealAvailable(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.sealBatch();
      total += n;
      if (n < BATCH) break;
    }
    return total;
  }

  private async sealBatch(): Promise<number> {
    const n = await this.db.transaction(async (tx) => {
      const head = await this.chain.head(tx, 'skip');
      if (!head) return 0; // another process is sealing
      const events = await this.chain.unsealed(tx, head, BATCH);
      if (events.length === 0) return 0;
      // rows whose writer could not hash them (deletes written by bundles, older rows): hash them here
      const missing = events.filter((e) => !e.row_hash).map((e) => e.id);
      const computed = new Map<string, Buffer>();
      if (missing.length) for (const row of await this.chain.rows(tx, missing)) computed.set(row.id, rowHash(row));
      let hash = head.hash;
      let seq = head.seq;
      const links = events.map((e) => {
        seq += 1;
        hash = linkHash(hash, seq, e.tx, e.row_hash ?? computed.get(e.id)!);
        return { seq, eventId: e.id, hash };
      });
      await this.chain.append(tx, links, events[events.length - 1], computed);
      return events.length;
    });
    if (n > 0) this.logHead();
    return n;
  }

  /** The head hash goes to the log too: an anchor outside the database to check it against. */
  private logHead(): void {
    const now = Math.floor(Date.now() / 60_000);
    if (now === this.lastLogged) return;
    this.lastLogged = now;
    this.chain
      .head(this.db)
      .then((h) => h && logger.info({ auditSeq: h.seq, auditHead: h.hash.toString('hex') }, 'audit chain head'))
      .catch(() => undefined);
  }
}

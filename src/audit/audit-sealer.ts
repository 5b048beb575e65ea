import type { Database } from '../database/database';
import { logger } from '../logger';
import { rowHash } from './audit-chain';
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
      const { sealed, more } = await this.sealBatch();
      total += sealed;
      if (!more) break;
    }
    return total;
  }

  /** One batch, chained by the database (`audit_seal`); `more`: sealable rows may remain. */
  private async sealBatch(): Promise<{ sealed: number; more: boolean }> {
    const r = await this.db.transaction(async (tx) => {
      let sealed = 0;
      for (;;) {
        const step = await this.chain.seal(tx, BATCH - sealed);
        if (step.sealed < 0) return { sealed, more: false }; // another process is sealing
        sealed += step.sealed;
        if (!step.unhashed) return { sealed, more: sealed === BATCH };
        // the walk stopped at a row its writer could not hash (a delete): hash
        // the sealable rows of that kind here, all at once (a Bundle may delete thousands), go on
        const rows = await this.chain.unhashedRows(tx, BATCH);
        await this.chain.setRowHashes(tx, new Map(rows.map((row) => [row.id, rowHash(row)])));
        if (sealed === BATCH) return { sealed, more: true };
      }
    });
    if (r.sealed > 0) this.logHead();
    return r;
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

import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Client } from 'pg';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Database, Queryable } from '../database/database';
import { logger } from '../logger';
import { SecurityRepository } from './security.repository';

const RETRY_MS = 5_000;

/**
 * Which access tokens are revoked (by token id `jti` or by grant id), asked
 * on every FHIR request, so it must be cheap and exact across processes.
 *
 * Each process keeps the set of revoked, unexpired ids in memory. A
 * revocation writes `auth_revoked` and `pg_notify`s the id in the same
 * transaction; every process LISTENs and adds it on commit (milliseconds).
 * While a process is not listening (start-up, lost connection) it fails
 * closed: each check is one primary-key lookup in `auth_revoked` until it
 * listens again and has reloaded the table. The embedded database serves a
 * single process, so there the in-memory set is exact by itself.
 */
@Injectable()
export class Revocations implements OnModuleInit, OnModuleDestroy {
  private readonly revoked = new Map<string, number>();
  private listener?: Client;
  /** the in-memory set is authoritative */
  private live = false;
  private closed = false;
  private retry?: NodeJS.Timeout;
  readonly channel: string;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: Database,
    private readonly repo: SecurityRepository,
  ) {
    this.channel = `auth_revoked_${db.schema ?? 'public'}`;
  }

  async onModuleInit(): Promise<void> {
    if (this.db.isEmbedded || this.config.databaseUrlIsEmbedded) {
      await this.load();
      this.live = true;
    } else {
      await this.listen();
    }
  }

  onModuleDestroy(): void {
    this.closed = true;
    clearTimeout(this.retry);
    void this.listener?.end().catch(() => undefined);
    this.listener = undefined;
  }

  /** Is any of these ids (token id, grant id) revoked? */
  async isRevoked(...ids: (string | undefined)[]): Promise<boolean> {
    const present = ids.filter((i): i is string => !!i);
    if (!this.live) return this.repo.isRevoked(present);
    const now = Date.now();
    return present.some((id) => (this.revoked.get(id) ?? 0) > now);
  }

  /** Revokes ids until `expiresAt` (when the tokens would have expired anyway). */
  async revoke(entries: { id: string; expiresAt: Date }[], q?: Queryable): Promise<void> {
    await this.repo.revoke(entries, this.channel, q);
    for (const e of entries) this.remember(e.id, e.expiresAt.getTime());
  }

  /** Drops expired ids from memory (called by the periodic clean-up). */
  prune(): void {
    const now = Date.now();
    for (const [id, exp] of this.revoked) if (exp <= now) this.revoked.delete(id);
  }

  private remember(id: string, expiresAt: number): void {
    this.revoked.set(id, Math.max(expiresAt, this.revoked.get(id) ?? 0));
  }

  private async load(): Promise<void> {
    for (const r of await this.repo.revokedIds()) this.remember(r.id, r.expiresAt.getTime());
  }

  private async listen(): Promise<void> {
    let client: Client | undefined;
    try {
      // its own connection: LISTEN holds it for the life of the process
      client = await this.db.dedicatedClient();
      const c = client;
      c.on('notification', (msg) => {
        if (msg.channel !== this.channel || !msg.payload) return;
        // the payload is the id; its expiry is at most one access-token lifetime away
        this.remember(msg.payload, Date.now() + this.config.accessTokenTtl * 1000);
      });
      c.on('error', (err) => this.lost(c, err));
      c.on('end', () => this.lost(c));
      await c.query(`LISTEN "${this.channel}"`);
      this.listener = c;
      await this.load(); // ids revoked before LISTEN took effect
      this.live = true;
    } catch (err: any) {
      if (client) this.lost(client, err);
      else this.scheduleRetry(err);
    }
  }

  private lost(client: Client, err?: Error): void {
    this.live = false;
    if (this.listener === client) this.listener = undefined;
    client.removeAllListeners('end');
    void client.end().catch(() => undefined);
    if (!this.closed) this.scheduleRetry(err);
  }

  private scheduleRetry(err?: Error): void {
    if (this.closed || this.retry) return;
    logger.warn({ err: err?.message }, 'revocation listener unavailable: checking revocations in the database');
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.listen();
    }, RETRY_MS);
    this.retry.unref();
  }
}

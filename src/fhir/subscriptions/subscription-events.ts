import { EventEmitter } from 'events';
import { randomUUID } from 'crypto';
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Client } from 'pg';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { Database } from '../../database/database';
import { logger } from '../../logger';

const CHANNEL = 'fhir_subscription_event';

/**
 * "Something happened for Subscription X": raised by the matcher after its
 * transaction commits, heard by every process's websocket server. In this
 * process it is an in-memory event; other processes on the same PostgreSQL
 * hear it through NOTIFY (the embedded database serves one process only).
 */
@Injectable()
export class SubscriptionEvents implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly bus = new EventEmitter();
  private readonly origin = randomUUID();
  private listener?: Client;

  constructor(
    private readonly db: Database,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.bus.setMaxListeners(0);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.databaseUrl || this.config.databaseUrlIsEmbedded) return;
    try {
      const client = new Client({ connectionString: this.config.databaseUrl });
      await client.connect();
      client.on('notification', (n) => {
        const [origin, id] = (n.payload ?? '').split(' ');
        if (origin !== this.origin && id) this.bus.emit('event', id);
      });
      client.on('error', (err) => logger.warn({ err: err.message }, 'subscription event listener failed'));
      await client.query(`LISTEN ${CHANNEL}`);
      this.listener = client;
    } catch (err: any) {
      logger.warn({ err: err?.message }, 'subscription events: LISTEN unavailable; websocket pings reach this process only');
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.listener?.end().catch(() => undefined);
  }

  /** Announces events for these Subscriptions (call after the commit that recorded them). */
  async publish(subscriptionIds: string[]): Promise<void> {
    for (const id of subscriptionIds) this.bus.emit('event', id);
    if (this.listener) {
      for (const id of subscriptionIds) {
        await this.db.query('SELECT pg_notify($1, $2)', [CHANNEL, `${this.origin} ${id}`]).catch(() => undefined);
      }
    }
  }

  on(listener: (subscriptionId: string) => void): () => void {
    this.bus.on('event', listener);
    return () => this.bus.off('event', listener);
  }
}

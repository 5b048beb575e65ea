import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { Subscription } from 'fhir/r4';
import type PgBoss from 'pg-boss';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { JobQueue } from '../../jobs/job-queue';
import { logger } from '../../logger';
import { BASE_URL } from '../rest/rest.tokens';
import { StorageService } from '../storage/storage.service';
import { Notification, NOTIFY_QUEUE, SubscriptionMatcher } from './subscription-matcher';
import { ActiveSubscription, readSubscription } from './subscription-model';

const TIMEOUT_MS = 10_000;
const WORKERS = 2;
/** notifications a worker sends concurrently */
const BATCH = 16;

/**
 * Delivers rest-hook notifications (subscription.html#2.46.7.1): POST to
 * the channel endpoint with the channel's headers and, by payload, no body,
 * the resource's id (a `history` Bundle entry without the resource) or the
 * version that matched. A non-2xx answer or a network error is retried by
 * the queue with exponential backoff; after the last attempt the
 * Subscription is set to `error` with the reason in `error` (and back to
 * `active` by the next successful delivery).
 */
@Injectable()
export class RestHookDeliverer implements OnApplicationBootstrap {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(BASE_URL) private readonly baseUrl: string,
    private readonly queue: JobQueue,
    private readonly storage: StorageService,
    private readonly matcher: SubscriptionMatcher,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.process<Notification>(
      NOTIFY_QUEUE,
      {
        retryLimit: Math.max(0, this.config.subscriptionMaxAttempts - 1),
        retryDelay: 1,
        retryBackoff: true,
        expireInSeconds: 60,
        workers: WORKERS,
        batchSize: BATCH,
        // this process's workers are woken by the matcher; the poll covers retries and other processes
        pollingIntervalSeconds: 2,
      },
      (job) => this.deliver(job),
    );
  }

  private async deliver(job: PgBoss.JobWithMetadata<Notification>): Promise<void> {
    const n = job.data;
    const current = await this.storage.readCurrent('Subscription', n.subscriptionId);
    if (!current || current.deleted) return;
    const s = JSON.parse(current.content!) as Subscription;
    if (s.status === 'off') return;
    let sub: ActiveSubscription;
    try {
      sub = readSubscription(s);
    } catch {
      return; // changed into something undeliverable since the match
    }
    try {
      await this.post(sub, n);
    } catch (err: any) {
      const reason = err?.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : err?.message ?? 'delivery failed';
      logger.warn({ subscription: sub.id, attempt: job.retryCount + 1, reason }, 'rest-hook delivery failed');
      if (job.retryCount < job.retryLimit) throw err;
      await this.matcher.setStatus(sub.id, current.versionId, 'error', `rest-hook delivery failed after ${job.retryCount + 1} attempts: ${reason}`);
      return;
    }
    if (s.status === 'error') await this.matcher.setStatus(sub.id, current.versionId, 'active');
  }

  private async post(sub: ActiveSubscription, n: Notification): Promise<void> {
    const headers: Record<string, string> = {};
    for (const [k, v] of sub.headers) headers[k] = v;
    let body: string | undefined;
    if (sub.content === 'full-resource') {
      const v = await this.storage.resources.readVersion(this.storage.db, n.resourceType, n.id, n.versionId);
      body = v?.content ?? undefined;
    } else if (sub.content === 'id-only') {
      const fullUrl = `${this.baseUrl}/${n.resourceType}/${n.id}`;
      body = JSON.stringify({
        resourceType: 'Bundle',
        type: 'history',
        entry: [{ fullUrl, request: { method: n.versionId === 1 ? 'POST' : 'PUT', url: `${n.resourceType}/${n.id}` } }],
      });
    }
    if (body !== undefined) headers['Content-Type'] = sub.payload ?? 'application/fhir+json';
    const res = await fetch(sub.endpoint!, { method: 'POST', headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`endpoint answered HTTP ${res.status}`);
  }
}

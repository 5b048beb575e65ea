import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/config';
import { SecurityRepository } from './security.repository';

/** `AUTH_RATE_LIMIT` counts hits per minute. */
export const RATE_WINDOW_SECONDS = 60;

/**
 * Hits per key (endpoint and client address) on the login and token
 * endpoints: at most `AUTH_RATE_LIMIT` per fixed one-minute window, counted
 * in PostgreSQL (`auth_rate_limit`), so N server processes on one database
 * allow a client the limit once, not N times. One upsert per attempt.
 */
@Injectable()
export class RateLimiter {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly security: SecurityRepository,
  ) {}

  /** Counts a hit; returns seconds to wait when over the limit, else 0. */
  hit(key: string): Promise<number> {
    return this.security.rateLimitHit(key, RATE_WINDOW_SECONDS, this.config.authRateLimit);
  }

  /** Forgets finished windows (the auth module's periodic clean-up). */
  purge(): Promise<void> {
    return this.security.purgeRateLimits(RATE_WINDOW_SECONDS);
  }
}

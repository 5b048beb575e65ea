/**
 * Fixed-window request counter per key (client address + endpoint), in
 * process memory: each API process limits on its own, which bounds a
 * password-guessing client to N × limit per minute; the lockout after
 * repeated failures (auth_login_attempt) is shared through the database.
 */
export class RateLimiter {
  private window = 0;
  private counts = new Map<string, number>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {}

  /** Counts a hit; returns seconds to wait when over the limit, else 0. */
  hit(key: string, now = Date.now()): number {
    const w = Math.floor(now / this.windowMs);
    if (w !== this.window) {
      this.window = w;
      this.counts = new Map();
    }
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return n > this.limit ? Math.ceil(((w + 1) * this.windowMs - now) / 1000) : 0;
  }
}

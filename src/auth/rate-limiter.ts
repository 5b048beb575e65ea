const MAX_KEYS = 100_000;

/**
 * Request counter per key (client address + endpoint): at most `limit` hits
 * in a window that starts at a key's first hit. Process memory: each API
 * process limits on its own, which bounds a password-guessing client to
 * N × limit per window; the lockout after repeated failures
 * (auth_login_attempt) is shared through the database.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {}

  /** Counts a hit; returns seconds to wait when over the limit, else 0. */
  hit(key: string, now = Date.now()): number {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size >= MAX_KEYS) this.prune(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    w.count++;
    return w.count > this.limit ? Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000)) : 0;
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
    // still full (a flood of distinct addresses): forget the oldest half rather than grow without bound
    if (this.windows.size >= MAX_KEYS) [...this.windows.keys()].slice(0, MAX_KEYS / 2).forEach((k) => this.windows.delete(k));
  }
}

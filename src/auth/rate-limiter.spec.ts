import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('allows `limit` hits per key in a window that starts at the first hit, then asks to wait', () => {
    const r = new RateLimiter(2, 60_000);
    expect(r.hit('a', 1_000)).toBe(0);
    expect(r.hit('a', 30_000)).toBe(0);
    expect(r.hit('a', 59_000)).toBe(2);
    expect(r.hit('b', 59_000)).toBe(0);
    expect(r.hit('a', 61_000)).toBe(0);
  });
});

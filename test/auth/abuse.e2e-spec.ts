import { RateLimiter } from '../../src/auth/rate-limiter';
import { startTestApp, TestApp } from '../helpers/test-app';
import { authorizeThroughPages, SmartApp, startSmartApp } from './smart-helpers';

/** Rate-limit windows are fixed minutes: a test that counts hits must not straddle the turn of one. */
async function awayFromWindowEdge(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 10_000) await new Promise((ok) => setTimeout(ok, left + 200));
}

const tokenAttempt = (t: TestApp) => t.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'nobody' });

/**
 * Brute force: the login and token endpoints are rate limited per client
 * address (429 with Retry-After), and repeated failed sign-ins lock the
 * account for a while from that address (OWASP ASVS 2.2.1; other addresses
 * and the per-username ceiling: login-lockout.e2e-spec.ts).
 */
describe('rate limits and lockout', () => {
  let s: SmartApp;
  beforeAll(async () => {
    s = await startSmartApp({ AUTH_RATE_LIMIT: '5', AUTH_LOCKOUT_THRESHOLD: '3', AUTH_LOCKOUT_SECONDS: '600' });
  });
  afterAll(async () => s?.close());

  it('the token endpoint answers 429 with Retry-After past the limit', async () => {
    await awayFromWindowEdge();
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await tokenAttempt(s);
      statuses.push(res.status);
      if (res.status === 429) {
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        expect(res.body.error).toBe('too_many_requests');
      }
    }
    expect(statuses.slice(0, 5).every((x) => x === 401)).toBe(true);
    expect(statuses.slice(5)).toEqual([429, 429]);
  });

  it('three failed sign-ins lock the account from that address: even the right password is refused', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await authorizeThroughPages(s, { username: 'bob', password: `wrong ${i}`, scope: 'patient/*.rs' });
      expect((r as any).page.status).toBe(401);
    }
    const locked = await authorizeThroughPages(s, { username: 'bob', password: 'bob pw', scope: 'patient/*.rs' });
    expect((locked as any).page.status).toBe(429);
    expect((locked as any).page.text).toContain('Too many failed sign-ins');
    // another account is not affected
    const other = await authorizeThroughPages(s, { username: 'alice', password: 'alice pw', scope: 'patient/*.rs' });
    expect(other.code).toBeDefined();
  });
});

/**
 * Several server processes share one database ("nothing that one process
 * must know may live only in its memory"): the login/token counters live in
 * PostgreSQL (auth_rate_limit), so a client gets AUTH_RATE_LIMIT attempts per
 * minute in all, not per process.
 */
describe('rate limits shared by every process on the database', () => {
  let one: SmartApp;
  let two: TestApp;
  beforeAll(async () => {
    one = await startSmartApp({ AUTH_RATE_LIMIT: '4' });
    // a second server on the same schema (its own pool, limiter and listeners)
    two = await startTestApp({ AUTH_REQUIRED: 'true', AUTH_RATE_LIMIT: '4', SEED_FILE: one.seedFile, DATABASE_SCHEMA: one.config.databaseSchema! });
  });
  afterAll(async () => {
    await two?.app.close(); // not two.close(): the schema is one's, dropped by it
    await one?.close();
  });

  it('attempts counted by one process count for the other: 4 in all, then 429 from both', async () => {
    await awayFromWindowEdge();
    const statuses: number[] = [];
    for (const t of [one, two, one, two, one, two]) statuses.push((await tokenAttempt(t)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    const { rows } = await one.db.query(`SELECT key, hits FROM auth_rate_limit WHERE key LIKE 'token:%'`);
    // one row per address and window; past the limit it is no longer written
    expect(rows).toHaveLength(1);
    expect(rows[0].hits).toBe(5);
  });

  it('a new window starts counting afresh, and finished windows are cleaned up', async () => {
    // age the current window by two minutes: the next attempt falls into a new one
    await one.db.query(`UPDATE auth_rate_limit SET window_start = window_start - interval '2 minutes'`);
    expect((await tokenAttempt(two)).status).toBe(401);
    await one.app.get(RateLimiter).purge();
    const { rows } = await one.db.query(`SELECT hits, window_start > now() - interval '1 minute' AS current FROM auth_rate_limit`);
    expect(rows).toEqual([{ hits: 1, current: true }]);
  });

  it('when the counter cannot be written the endpoint fails closed: 503 with Retry-After, no credential checked', async () => {
    await one.db.query('ALTER TABLE auth_rate_limit RENAME TO auth_rate_limit_away');
    try {
      const res = await tokenAttempt(one);
      expect(res.status).toBe(503);
      expect(res.body.error).toBe('temporarily_unavailable');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await one.db.query('ALTER TABLE auth_rate_limit_away RENAME TO auth_rate_limit');
    }
  });
});

import { authorizeThroughPages, SmartApp, startSmartApp } from './smart-helpers';

/**
 * Brute force: the login and token endpoints are rate limited per client
 * address (429 with Retry-After), and repeated failed sign-ins lock the
 * account for a while, whatever the address (OWASP ASVS 2.2.1).
 */
describe('rate limits and lockout', () => {
  let s: SmartApp;
  beforeAll(async () => {
    s = await startSmartApp({ AUTH_RATE_LIMIT: '5', AUTH_LOCKOUT_THRESHOLD: '3', AUTH_LOCKOUT_SECONDS: '600' });
  });
  afterAll(async () => s?.close());

  it('the token endpoint answers 429 with Retry-After past the limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'nobody' });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        expect(res.body.error).toBe('too_many_requests');
      }
    }
    expect(statuses.slice(0, 5).every((x) => x === 401)).toBe(true);
    expect(statuses.slice(5)).toEqual([429, 429]);
  });

  it('three failed sign-ins lock the account: even the right password is refused', async () => {
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

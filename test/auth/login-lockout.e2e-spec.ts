import type { AuditEvent, Bundle } from 'fhir/r4';
import { AuthEvents, SecurityEvent } from '../../src/auth/auth-events';
import { ceilingAddresses, endCeilingWindow, expectCeilingReached, listenOnLoopback } from './lockout-helpers';
import { backendToken, cookieOf, formFields, SmartApp, startAuthorization, startSmartApp } from './smart-helpers';

const THRESHOLD = 3;

/**
 * Failed sign-ins on the login page (OWASP ASVS 2.2.1; RFC 6749 §10.10) are
 * counted per username and source address, like client secrets
 * (client-lockout.e2e-spec.ts), so that whoever knows a username cannot lock
 * the genuine user out: the guessing address is refused (429), the user from
 * their own address still signs in. A per-username ceiling over all addresses,
 * with a one-minute window, bounds a distributed guess. Unknown usernames are
 * counted and answered exactly like known ones.
 */
describe('login page lockout cannot be turned against the genuine user', () => {
  let s: SmartApp;
  let loopback: Awaited<ReturnType<typeof listenOnLoopback>>;
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    s = await startSmartApp({ AUTH_LOCKOUT_THRESHOLD: String(THRESHOLD), AUTH_LOCKOUT_SECONDS: '600' });
    s.app.get(AuthEvents).subscribe((e) => void events.push(e));
    loopback = await listenOnLoopback(s);
  });
  afterAll(async () => {
    await loopback.close();
    await s.close();
  });

  /**
   * An authorization request of demo-app, then its login form posted from `from`; on success the
   * consent is given from there too and the redirect's code returned.
   */
  async function signInFrom(from: string, username: string, password: string): Promise<{ status: number; text: string; code?: string }> {
    const { start } = await startAuthorization(s, { scope: 'user/*.rs' });
    expect(start.status).toBe(200);
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookieOf(start)! };
    const login = await loopback.postFrom(from, '/auth/login', headers, new URLSearchParams({ ...formFields(start.text), username, password }).toString());
    if (login.status !== 200) return login;
    const done = await loopback.postFrom(from, '/auth/consent', headers, new URLSearchParams({ ...formFields(login.text), decision: 'allow' }).toString());
    return { ...login, code: new URL(done.location ?? 'http://invalid/').searchParams.get('code') ?? undefined };
  }

  const isLockedPage = (r: { status: number; text: string }) => r.status === 429 && r.text.includes('Too many failed sign-ins');

  it('an address that guesses wrong is refused (even the right password); the user from another address signs in', async () => {
    for (let i = 0; i < THRESHOLD; i++) expect((await signInFrom('127.0.0.2', 'bob', `guess ${i}`)).status).toBe(401);
    expect(isLockedPage(await signInFrom('127.0.0.2', 'bob', 'bob pw'))).toBe(true);
    // the username is case-insensitive for the count: another spelling is no way around it
    expect(isLockedPage(await signInFrom('127.0.0.2', 'BOB', 'bob pw'))).toBe(true);

    const genuine = await signInFrom('127.0.0.3', 'bob', 'bob pw');
    expect(genuine.status).toBe(200);
    expect(genuine.code).toEqual(expect.any(String));
    // the flooding address is locked out of this username only
    expect((await signInFrom('127.0.0.2', 'alice', 'alice pw')).code).toEqual(expect.any(String));
  });

  it('a locked sign-in is still a login security event (reason locked) and an AuditEvent, without the password', async () => {
    events.length = 0;
    expect(isLockedPage(await signInFrom('127.0.0.2', 'bob', 'bob pw'))).toBe(true);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'login', outcome: 'failure', reason: 'locked', username: 'bob', clientId: 'demo-app', address: '127.0.0.2' }),
    );
    expect(JSON.stringify(events)).not.toContain('bob pw');

    const token = (await backendToken(s, 'system/AuditEvent.rs')).body.access_token;
    const res = await s.http.get('/fhir/AuditEvent').query({ type: '110114', altid: 'bob', outcome: '4', address: '127.0.0.2', _count: '100' }).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    const recorded = ((res.body as Bundle).entry ?? []).map((e) => e.resource as AuditEvent);
    expect(recorded.map((e) => e.outcomeDesc)).toContain('locked');
    expect(JSON.stringify(res.body)).not.toContain('bob pw');
  });

  it('an unknown username is counted and answered exactly like a known one (no enumeration)', async () => {
    for (const username of ['dr.smith', 'nobody-here']) {
      const statuses: number[] = [];
      for (let i = 0; i < THRESHOLD + 1; i++) statuses.push((await signInFrom('127.0.0.4', username, `guess ${i}`)).status);
      expect([username, statuses]).toEqual([username, [401, 401, 401, 429]]);
      // another address is not affected, for either
      expect([username, (await signInFrom('127.0.0.5', username, 'guess')).status]).toEqual([username, 401]);
    }
  });

  it("a success clears that address's count only", async () => {
    for (const from of ['127.0.0.6', '127.0.0.7']) {
      for (let i = 0; i < THRESHOLD - 1; i++) expect((await signInFrom(from, 'alice', `guess ${i}`)).status).toBe(401);
    }
    expect((await signInFrom('127.0.0.6', 'alice', 'alice pw')).code).toEqual(expect.any(String));
    const { rows } = await s.db.query(`SELECT key, failures FROM auth_login_attempt WHERE key LIKE 'user:alice@%' ORDER BY key`);
    expect(rows).toEqual([{ key: 'user:alice@127.0.0.7', failures: THRESHOLD - 1 }]);
    // one more failure locks 127.0.0.7, not 127.0.0.6
    expect((await signInFrom('127.0.0.7', 'alice', 'guess')).status).toBe(401);
    expect((await signInFrom('127.0.0.6', 'alice', 'guess')).status).toBe(401);
    expect(isLockedPage(await signInFrom('127.0.0.7', 'alice', 'alice pw'))).toBe(true);
    expect((await signInFrom('127.0.0.6', 'alice', 'alice pw')).code).toEqual(expect.any(String));
  });

  it('a guess spread over many addresses meets the per-username ceiling: sign-ins pause for at most a minute', async () => {
    for (const from of ceilingAddresses()) {
      for (let i = 0; i < THRESHOLD; i++) expect((await signInFrom(from, 'admin', `guess ${from} ${i}`)).status).toBe(401);
    }
    events.length = 0;
    expect(isLockedPage(await signInFrom('127.0.2.1', 'admin', 'admin pw'))).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'login', outcome: 'failure', reason: 'locked', username: 'admin', address: '127.0.2.1' }));
    await expectCeilingReached(s, 'user:admin', THRESHOLD);
    // other users are unaffected
    expect((await signInFrom('127.0.2.1', 'dr.smith', 'correct horse')).status).toBe(200);
    // once the short window is over the user signs in again
    await endCeilingWindow(s, 'user:admin');
    expect((await signInFrom('127.0.2.1', 'admin', 'admin pw')).status).toBe(200);
  });
});

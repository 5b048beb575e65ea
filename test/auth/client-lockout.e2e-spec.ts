import { addressKey } from '../../src/auth/credential-lockout';
import { ceilingAddresses, endCeilingWindow, expectCeilingReached, listenOnLoopback } from './lockout-helpers';
import { SmartApp, startSmartApp } from './smart-helpers';

const THRESHOLD = 3;

/**
 * Client-secret failures (RFC 6749 §10.10 "the authorization server MUST
 * prevent attackers from guessing" credentials; OWASP ASVS 2.2.1) are counted
 * per client and source address, so that whoever knows a client_id cannot
 * lock the genuine client out (RFC 6749 §5.2 invalid_client): the guessing
 * address is throttled, the client from its own address still authenticates.
 * A per-client ceiling over all addresses, with a one-minute window, bounds a
 * distributed guess.
 */
describe('client authentication lockout cannot be turned against the genuine client (RFC 6749 §10.10)', () => {
  let s: SmartApp;
  let loopback: Awaited<ReturnType<typeof listenOnLoopback>>;

  beforeAll(async () => {
    s = await startSmartApp({ AUTH_LOCKOUT_THRESHOLD: String(THRESHOLD), AUTH_LOCKOUT_SECONDS: '600' });
    loopback = await listenOnLoopback(s);
  });
  afterAll(async () => {
    await loopback.close();
    await s.close();
  });

  /** client_credentials for `client` with `secret` (Basic), sent from the loopback address `from`. */
  async function tokenFrom(from: string, client: string, secret: string): Promise<{ status: number; body: any }> {
    const res = await loopback.postFrom(
      from,
      '/auth/token',
      {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${Buffer.from(`${client}:${secret}`).toString('base64')}`,
      },
      new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
    );
    return { status: res.status, body: JSON.parse(res.text) };
  }

  it('an address that guesses wrong is throttled (even the right secret is refused there); the client from another address still gets tokens', async () => {
    for (let i = 0; i < THRESHOLD; i++) {
      const wrong = await tokenFrom('127.0.0.2', 'lab-portal', `guess ${i}`);
      expect([wrong.status, wrong.body.error]).toEqual([401, 'invalid_client']);
    }
    const throttled = await tokenFrom('127.0.0.2', 'lab-portal', 's3cret');
    expect(throttled.status).toBe(401);
    expect(throttled.body.error_description).toMatch(/too many failed authentications/);

    const genuine = await tokenFrom('127.0.0.3', 'lab-portal', 's3cret');
    expect(genuine.status).toBe(200);
    expect(genuine.body.access_token).toEqual(expect.any(String));
    // the throttled address is locked for this client only
    expect((await tokenFrom('127.0.0.2', 'rs-gateway', 'gw-s3cret')).status).toBe(200);
  });

  it('a guess spread over many addresses meets the per-client ceiling: checks pause for at most a minute', async () => {
    for (const from of ceilingAddresses()) {
      for (let i = 0; i < THRESHOLD; i++) expect((await tokenFrom(from, 'rs-gateway', `guess ${from} ${i}`)).status).toBe(401);
    }
    const paused = await tokenFrom('127.0.2.1', 'rs-gateway', 'gw-s3cret');
    expect(paused.status).toBe(401);
    expect(paused.body.error_description).toMatch(/too many failed authentications/);
    await expectCeilingReached(s, 'client:rs-gateway', THRESHOLD);
    // other clients are unaffected
    expect((await tokenFrom('127.0.2.1', 'lab-portal', 's3cret')).status).toBe(200);
    // once the short window is over the client authenticates again
    await endCeilingWindow(s, 'client:rs-gateway');
    expect((await tokenFrom('127.0.2.1', 'rs-gateway', 'gw-s3cret')).status).toBe(200);
  });

  it('counts an IPv6 source by its /64 and an IPv4-mapped one as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::5')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('10.1.2.3')).toBe('10.1.2.3');
  });
});

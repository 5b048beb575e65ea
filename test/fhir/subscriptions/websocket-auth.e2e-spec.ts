import type { AddressInfo } from 'net';
import { tokenFor } from '../../auth/scope-fixtures';
import { backendToken, SmartApp, startSmartApp } from '../../auth/smart-helpers';
import { FHIR_JSON } from '../../helpers/test-app';
import { WsClient } from './receiver';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// R4 subscription.html#2.46.7.2 (websocket channel: bind <id>, bound, ping) under SMART on FHIR
// (App Launch 2.0 scopes; RFC 6750 bearer tokens): binding needs a token that may read the Subscription.
describe('websocket channel: binding is authenticated and authorized (AUTH_REQUIRED)', () => {
  let s: SmartApp;
  let url: string;
  let admin: string;
  let reader: string;
  let subscription: string;
  const clients: WsClient[] = [];

  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

  async function open(query = '', headers: Record<string, string> = {}): Promise<WsClient> {
    const ws = new WsClient();
    clients.push(ws);
    await ws.connect(`${url}${query}`, headers);
    return ws;
  }

  async function observation(patient = 'p1'): Promise<void> {
    const r = await s.http
      .post('/fhir/Observation')
      .set(auth(admin))
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Observation', status: 'final', code: { text: 'hr' }, subject: { reference: `Patient/${patient}` } });
    expect(r.status).toBe(201);
  }

  /** Binds and expects `bound`, then a ping for a matching change. */
  async function bindsAndPings(ws: WsClient): Promise<void> {
    ws.send(`bind ${subscription}`);
    expect(await ws.waitFor((m) => m === `bound ${subscription}`)).toBeDefined();
    await observation();
    expect(await ws.waitFor((m) => m === `ping ${subscription}`)).toBeDefined();
  }

  /** Expects an error line naming the refusal, then the socket closed with 1008 (policy violation). */
  async function refused(ws: WsClient, pattern: RegExp): Promise<void> {
    expect(await ws.waitFor((m) => m.startsWith('error'))).toMatch(pattern);
    expect((await ws.waitForClose())?.code).toBe(1008);
  }

  beforeAll(async () => {
    s = await startSmartApp();
    const server = s.app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/fhir/websocket`;
    admin = (await backendToken(s, 'system/*.cruds', 'ec-backend')).body.access_token;
    reader = (await backendToken(s, 'system/*.rs')).body.access_token;
    await s.http.put('/fhir/Patient/p1').set(auth(admin)).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', id: 'p1' });
    const r = await s.http
      .post('/fhir/Subscription')
      .set(auth(admin))
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Subscription', status: 'requested', reason: 'ws', criteria: 'Observation?patient=Patient/p1', channel: { type: 'websocket' } });
    expect(r.status).toBe(201);
    subscription = r.body.id;
    const deadline = Date.now() + 10_000;
    while ((await s.http.get(`/fhir/Subscription/${subscription}`).set(auth(admin))).body.status !== 'active' && Date.now() < deadline) await sleep(100);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await new Promise<void>((resolve) => s.app.getHttpServer().close(() => resolve()));
    await s.close();
  });

  it('token in the upgrade request\'s Authorization header: bind, then ping', async () => {
    await bindsAndPings(await open('', auth(reader)));
  });

  it('token as the access_token query parameter (browsers cannot set headers)', async () => {
    await bindsAndPings(await open(`?access_token=${encodeURIComponent(reader)}`));
  });

  it('token in an "auth <token>" message before bind', async () => {
    const ws = await open();
    ws.send(`auth ${reader}`);
    ws.send(`bind ${subscription}`); // sent at once: the server settles auth first
    expect(await ws.waitFor((m) => m === 'authenticated')).toBeDefined();
    expect(await ws.waitFor((m) => m === `bound ${subscription}`)).toBeDefined();
    await observation();
    expect(await ws.waitFor((m) => m === `ping ${subscription}`)).toBeDefined();
  });

  it('no token: bind is refused with an error and the socket closed', async () => {
    const ws = await open();
    ws.send(`bind ${subscription}`);
    await refused(ws, new RegExp(`^error ${subscription}: authentication required`));
    expect(ws.messages.some((m) => m.startsWith('bound'))).toBe(false);
  });

  it('an invalid token: 401 before the upgrade (header or query); error and close in an auth message', async () => {
    const forged = reader.slice(0, -4) + (reader.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (const attempt of [() => open('', auth(forged)), () => open(`?access_token=${forged}`), () => open('', { Authorization: 'Basic abc' })]) {
      const err = await attempt().then(() => undefined, (e) => e);
      expect(err?.status).toBe(401);
      expect(err?.headers['www-authenticate']).toMatch(/^Bearer realm="fhir", error="invalid_token"/);
    }
    const ws = await open();
    ws.send(`auth ${forged}`);
    await refused(ws, /^error: the access token is not valid/);
  });

  it('a token that may not read the Subscription is refused: other types only, a patient token; an unknown id likewise', async () => {
    const observationsOnly = (
      await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'post-client', client_secret: 'p0st', scope: 'system/Observation.rs' })
    ).body.access_token;
    const ws1 = await open('', auth(observationsOnly));
    ws1.send(`bind ${subscription}`);
    await refused(ws1, /do not allow read on Subscription/);

    await s.http.put('/fhir/Patient/alice').set(auth(admin)).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', id: 'alice' });
    const alice = await tokenFor(s, 'alice', 'patient/*.rs');
    const ws2 = await open('', auth(alice));
    ws2.send(`bind ${subscription}`);
    await refused(ws2, new RegExp(`^error ${subscription}: `));

    const ws3 = await open('', auth(reader));
    ws3.send('bind no-such-subscription');
    await refused(ws3, /^error no-such-subscription: no websocket Subscription with this id/);

    // a refused bind is a security event in the audit trail (BALP: access denied)
    const denied = await s.db.query(`SELECT count(*)::int AS n FROM audit_event WHERE client_id = 'post-client' AND 'access-denied' = ANY(subtype)`);
    expect(denied.rows[0].n).toBeGreaterThan(0);
  });

  it('a revoked token: the next notification closes the socket instead of pinging', async () => {
    const own = await s.http.post('/auth/token').auth('lab-portal', 's3cret').type('form').send({ grant_type: 'client_credentials', scope: 'system/*.rs' });
    const ws = await open('', auth(own.body.access_token));
    ws.send(`bind ${subscription}`);
    expect(await ws.waitFor((m) => m === `bound ${subscription}`)).toBeDefined();
    expect((await s.http.post('/auth/revoke').auth('lab-portal', 's3cret').type('form').send({ token: own.body.access_token })).status).toBe(200);
    await observation();
    await refused(ws, /expired or was revoked/);
    expect(ws.messages.some((m) => m.startsWith('ping'))).toBe(false);
  });
});

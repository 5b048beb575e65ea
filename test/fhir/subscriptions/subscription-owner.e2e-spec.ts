import type { AddressInfo } from 'net';
import { StorageService } from '../../../src/fhir/storage/storage.service';
import { tokenFor } from '../../auth/scope-fixtures';
import { backendToken, SmartApp, startSmartApp } from '../../auth/smart-helpers';
import { FHIR_JSON } from '../../helpers/test-app';
import { Receiver, WsClient } from './receiver';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const HEART_RATE = 'http://loinc.org|8867-4';

// R4 subscription.html (rest-hook and websocket notifications) under SMART App Launch 2.0 scopes:
// a Subscription never discloses more than whoever wrote it may read (patient compartment,
// granular filters), whatever its criteria say.
describe('Subscriptions are bounded by the access of whoever wrote them', () => {
  let s: SmartApp;
  let receiver: Receiver;
  let endpoint: string;
  let wsUrl: string;
  let admin: string;
  /** a practitioner's app launched for Alice: patient/Observation.rs, and Subscriptions through user/ */
  let app: string;
  const sockets: WsClient[] = [];

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  async function observation(patient: string, category = 'vital-signs'): Promise<string> {
    const r = await s.http
      .post('/fhir/Observation')
      .set(bearer(admin))
      .set('Content-Type', FHIR_JSON)
      .send({
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [{ system: CATEGORY, code: category }] }],
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: `Patient/${patient}` },
      });
    expect(r.status).toBe(201);
    return r.body.id;
  }

  async function waitForStatus(id: string, statuses: string[]): Promise<any> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const sub = (await s.http.get(`/fhir/Subscription/${id}`).set(bearer(admin))).body;
      if (statuses.includes(sub.status) || Date.now() > deadline) return sub;
      await sleep(100);
    }
  }

  /** Writes a Subscription with this token (POST, or PUT when `id` is given) and waits until the matcher has settled it. */
  async function subscribe(token: string, channel: object, id?: string): Promise<any> {
    const body = { resourceType: 'Subscription', id, status: 'requested', reason: 'test', criteria: `Observation?code=${HEART_RATE}`, channel };
    const r = id
      ? await s.http.put(`/fhir/Subscription/${id}`).set(bearer(token)).set('Content-Type', FHIR_JSON).send(body)
      : await s.http.post('/fhir/Subscription').set(bearer(token)).set('Content-Type', FHIR_JSON).send(body);
    expect(r.status).toBeLessThan(300);
    return waitForStatus(r.body.id, ['active', 'error']);
  }

  const restHook = (path: string) => ({ type: 'rest-hook', endpoint: `${endpoint}${path}`, payload: 'application/fhir+json' });
  const notified = (path: string) => receiver.at(path).map((r) => JSON.parse(r.body).id);

  beforeAll(async () => {
    s = await startSmartApp();
    receiver = new Receiver();
    endpoint = await receiver.start();
    const server = s.app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    wsUrl = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/fhir/websocket`;
    admin = (await backendToken(s, 'system/*.cruds', 'ec-backend')).body.access_token;
    for (const id of ['alice', 'bob']) {
      await s.http.put(`/fhir/Patient/${id}`).set(bearer(admin)).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', id, name: [{ family: id }] });
    }
    app = await tokenFor(s, 'dr.smith', 'launch/patient patient/Observation.rs user/Subscription.cruds', 'alice');
  });
  afterAll(async () => {
    for (const ws of sockets) ws.close();
    await new Promise<void>((resolve) => s.app.getHttpServer().close(() => resolve()));
    await s.close();
    await receiver.stop();
  });

  it('a patient-scoped app\'s Subscription on Observation?code=… hears of its patient\'s Observations only (rest-hook and websocket)', async () => {
    const hook = await subscribe(app, restHook('/app'));
    const socket = await subscribe(app, { type: 'websocket' });
    expect([hook.status, socket.status]).toEqual(['active', 'active']);
    const ws = new WsClient();
    sockets.push(ws);
    await ws.connect(wsUrl, bearer(app));
    ws.send(`bind ${socket.id}`);
    expect(await ws.waitFor((m) => m === `bound ${socket.id}`)).toBeDefined();

    await observation('bob');
    const own = await observation('alice');
    await receiver.waitFor('/app', 1);
    expect(await ws.waitFor((m) => m === `ping ${socket.id}`)).toBeDefined();
    await sleep(1500);
    expect(notified('/app')).toEqual([own]);
    expect(ws.messages.filter((m) => m.startsWith('ping'))).toEqual([`ping ${socket.id}`]);
  });

  it('granular scopes bound it too: written under system/Observation.rs?category=laboratory, it hears of lab Observations only', async () => {
    const lab = (await backendToken(s, `system/Subscription.cruds system/Observation.rs?category=${CATEGORY}|laboratory`, 'ec-backend')).body.access_token;
    expect((await subscribe(lab, restHook('/lab'))).status).toBe('active');
    await observation('bob', 'vital-signs');
    const labResult = await observation('bob', 'laboratory');
    await receiver.waitFor('/lab', 1);
    await sleep(1500);
    expect(notified('/lab')).toEqual([labResult]);
  });

  it('the writer of the current version decides: an admin\'s Subscription rewritten by the app is bounded from then on', async () => {
    const sub = await subscribe(admin, restHook('/taken'));
    const before = await observation('bob');
    await receiver.waitFor('/taken', 1);
    expect(notified('/taken')).toEqual([before]); // the admin may read Bob's

    // the app points it at the same endpoint under its own access (the matcher's status change keeps it)
    expect((await subscribe(app, restHook('/taken'), sub.id)).status).toBe('active');
    const owner = (await s.db.query('SELECT version_id, owner FROM subscription_owner WHERE id = $1', [sub.id])).rows[0];
    expect(owner.owner).toMatchObject({ clientId: 'demo-app', fhirUser: 'Practitioner/dr-smith', patient: 'alice' });
    expect(owner.owner.scopes).toEqual(expect.arrayContaining(['patient/Observation.rs', 'user/Subscription.cruds']));
    expect(JSON.stringify(owner.owner)).not.toContain(app); // who, never the token
    const current = (await s.http.get(`/fhir/Subscription/${sub.id}`).set(bearer(admin))).body.meta.versionId;
    expect(Number(current)).toBeGreaterThan(owner.version_id); // the matcher's `active` version kept the app as writer

    await observation('bob');
    const alices = await observation('alice');
    await receiver.waitFor('/taken', 2);
    await sleep(1500);
    expect(notified('/taken')).toEqual([before, alices]);
  });

  it('a writer who may not read the criteria\'s type, or no recorded writer: the Subscription turns to error', async () => {
    const subscriptionsOnly = (await backendToken(s, 'system/Subscription.cruds', 'ec-backend')).body.access_token;
    const blind = await subscribe(subscriptionsOnly, restHook('/blind'));
    expect(blind.status).toBe('error');
    expect(blind.error).toMatch(/does not allow reading Observation/);

    // written inside the server (no API request): nobody to bound it by, so it serves nobody
    const internal = await s.app.get(StorageService).create({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'internal',
      criteria: `Observation?code=${HEART_RATE}`,
      channel: restHook('/internal'),
    } as any);
    const stored = await waitForStatus(internal.stored.id, ['active', 'error']);
    expect(stored.status).toBe('error');
    expect(stored.error).toMatch(/nobody is recorded as having written this Subscription/);
  });
});

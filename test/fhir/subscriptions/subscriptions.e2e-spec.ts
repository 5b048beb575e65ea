import type { AddressInfo } from 'net';
import { Client } from 'pg';
import { StorageService } from '../../../src/fhir/storage/storage.service';
import { PAYLOAD_CONTENT_URL } from '../../../src/fhir/subscriptions/subscription-model';
import { SubscriptionMatcher } from '../../../src/fhir/subscriptions/subscription-matcher';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { Receiver, WsClient } from './receiver';

const HEART_RATE = 'http://loinc.org|8867-4';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function observation(patient: string, code = '8867-4', value = 72) {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: new Date().toISOString(),
    valueQuantity: { value, unit: '/min' },
  };
}

async function waitForStatus(t: TestApp, id: string, status: string, timeoutMs = 15_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await t.http.get(`/fhir/Subscription/${id}`)).body;
    if (s.status === status || Date.now() > deadline) return s;
    await sleep(100);
  }
}

// R4 subscription.html: criteria, rest-hook and websocket channels
describe('Subscriptions (R4)', () => {
  let t: TestApp;
  let receiver: Receiver;
  let endpoint: string;
  let patient: string;
  let other: string;

  beforeAll(async () => {
    t = await startTestApp({ SUBSCRIPTION_MAX_ATTEMPTS: '3' });
    receiver = new Receiver();
    endpoint = await receiver.start();
    patient = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Watched' }] })).body.id;
    other = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Other' }] })).body.id;
  });
  afterAll(async () => {
    await t.close();
    await receiver.stop();
  });

  async function subscribe(path: string, channel: object, criteria = `Observation?code=${HEART_RATE}&patient=Patient/${patient}`): Promise<string> {
    const r = await t.http.post('/fhir/Subscription').send({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'test',
      criteria,
      channel: { type: 'rest-hook', endpoint: `${endpoint}${path}`, ...channel },
    });
    expect(r.status).toBe(201);
    // the server activates a requested Subscription once it can serve it (subscription.html#2.46.6)
    expect((await waitForStatus(t, r.body.id, 'active')).status).toBe('active');
    return r.body.id;
  }

  it('rest-hook, full payload, custom headers: each matching change is POSTed once; others are not', async () => {
    await subscribe('/full', { payload: 'application/fhir+json', header: ['Authorization: Bearer hook-secret', 'X-Tenant: ward-7'] });
    const hit = (await t.http.post('/fhir/Observation').send(observation(patient))).body;
    await t.http.post('/fhir/Observation').send(observation(patient, '59408-5')); // other code
    await t.http.post('/fhir/Observation').send(observation(other)); // other patient
    const got = await receiver.waitFor('/full', 1);
    expect(got.length).toBe(1);
    const body = JSON.parse(got[0].body);
    expect(body).toMatchObject({ resourceType: 'Observation', id: hit.id, meta: { versionId: '1' } });
    expect(got[0].headers['content-type']).toMatch(/application\/fhir\+json/);
    expect(got[0].headers.authorization).toBe('Bearer hook-secret');
    expect(got[0].headers['x-tenant']).toBe('ward-7');
    // an update that still matches notifies again, with the new version
    await t.http.put(`/fhir/Observation/${hit.id}`).send({ ...observation(patient, '8867-4', 80), id: hit.id });
    const again = await receiver.waitFor('/full', 2);
    expect(JSON.parse(again[1].body)).toMatchObject({ id: hit.id, meta: { versionId: '2' }, valueQuantity: { value: 80 } });
    await sleep(1500);
    expect(receiver.at('/full').length).toBe(2); // once each: no duplicates
  });

  it('rest-hook payloads: none (no body) and id-only (a history entry without the resource)', async () => {
    await subscribe('/none', {});
    await subscribe('/ids', { payload: 'application/fhir+json', _payload: { extension: [{ url: PAYLOAD_CONTENT_URL, valueCode: 'id-only' }] } });
    const hit = (await t.http.post('/fhir/Observation').send(observation(patient))).body;
    const [none] = await receiver.waitFor('/none', 1);
    expect(none.body).toBe('');
    const [ids] = await receiver.waitFor('/ids', 1);
    const bundle = JSON.parse(ids.body);
    expect(bundle.entry).toEqual([{ fullUrl: `${t.baseUrl}/Observation/${hit.id}`, request: { method: 'POST', url: `Observation/${hit.id}` } }]);
  });

  it('an endpoint that keeps failing is retried with backoff, then the Subscription turns to error with the reason', async () => {
    receiver.status = (path) => (path === '/broken' ? 500 : 200);
    const id = await subscribe('/broken', { payload: 'application/fhir+json' });
    await t.http.post('/fhir/Observation').send(observation(patient));
    const s = await waitForStatus(t, id, 'error', 30_000);
    expect(s.status).toBe('error');
    expect(s.error).toMatch(/after 3 attempts.*HTTP 500/);
    const attempts = receiver.at('/broken');
    expect(attempts.length).toBe(3);
    // backoff: the second gap is longer than the first
    expect(attempts[2].at - attempts[1].at).toBeGreaterThan(attempts[1].at - attempts[0].at);
  });

  it('a Subscription whose criteria the server cannot run becomes error, not active', async () => {
    const r = await t.http.post('/fhir/Subscription').send({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'bad',
      criteria: 'Observation?no-such-param=1',
      channel: { type: 'rest-hook', endpoint: `${endpoint}/bad`, payload: 'application/fhir+json' },
    });
    const s = await waitForStatus(t, r.body.id, 'error');
    expect(s.status).toBe('error');
    expect(s.error).toMatch(/no-such-param/);
  });

  // needs two concurrent transactions: the embedded database runs one at a time
  (process.env.TEST_DATABASE_URL ? it : it.skip)(
    'a long transaction elsewhere delays no one else\'s notification, and its own change arrives when it commits',
    async () => {
      await subscribe('/long', { payload: 'application/fhir+json' }, `Observation?patient=Patient/${other}`);
      const client = new Client({ connectionString: process.env.TEST_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`SET search_path TO "${t.config.databaseSchema}", public`);
        await client.query('BEGIN');
        const early = await t.app.get(StorageService).create(observation(other) as any, { tx: client });
        const prompt = (await t.http.post('/fhir/Observation').send(observation(other))).body;
        const first = await receiver.waitFor('/long', 1);
        expect(first.map((r) => JSON.parse(r.body).id)).toEqual([prompt.id]); // while the long transaction is open
        await client.query('COMMIT');
        const both = await receiver.waitFor('/long', 2);
        expect(JSON.parse(both[1].body).id).toBe(early.stored.id);
      } finally {
        await client.end();
      }
    },
  );

  it('websocket: bind with the subscription id, receive "ping <id>" on each matching change', async () => {
    const r = await t.http.post('/fhir/Subscription').send({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'dashboard',
      criteria: `Observation?patient=Patient/${other}`,
      channel: { type: 'websocket' },
    });
    const id = r.body.id;
    await waitForStatus(t, id, 'active');
    const cs = (await t.http.get('/fhir/metadata')).body;
    const wsUrl = cs.rest[0].extension.find((e: any) => e.url.endsWith('capabilitystatement-websocket')).valueUri;
    expect(wsUrl).toBe('ws://localhost:8080/fhir/websocket');
    const server = t.app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const ws = new WsClient();
    try {
      await ws.connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/fhir/websocket`);
      ws.send(`bind ${id}`);
      expect(await ws.waitFor((m) => m === `bound ${id}`)).toBeDefined();
      await t.http.post('/fhir/Observation').send(observation(other));
      expect(await ws.waitFor((m) => m === `ping ${id}`)).toBeDefined();
      ws.send('bind not-a-subscription');
      expect(await ws.waitFor((m) => m.startsWith('error not-a-subscription'))).toBeDefined();
      expect((await ws.waitForClose())?.code).toBe(1008); // refused: the socket is closed
    } finally {
      ws.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('Subscriptions survive a restart (queue and feed position in PostgreSQL)', () => {
  it('a change made while no matcher runs, and a delivery that failed before the restart, each arrive once afterwards', async () => {
    const receiver = new Receiver();
    const endpoint = await receiver.start();
    receiver.status = (path, nth) => (path === '/flaky' && nth === 1 ? 503 : 200);
    const first = await startTestApp();
    const schema = first.config.databaseSchema!;
    let second: TestApp | undefined;
    try {
      const patient = (await first.http.post('/fhir/Patient').send({ resourceType: 'Patient' })).body.id;
      for (const path of ['/flaky', '/later']) {
        const r = await first.http.post('/fhir/Subscription').send({
          resourceType: 'Subscription',
          status: 'requested',
          reason: 'restart',
          criteria: `Observation?patient=Patient/${patient}&code=${path === '/flaky' ? '8867-4' : '2708-6'}`,
          channel: { type: 'rest-hook', endpoint: `${endpoint}${path}`, payload: 'application/fhir+json' },
        });
        await waitForStatus(first, r.body.id, 'active');
      }
      // 1. the first delivery fails (503) just before the process stops: it waits in the queue as a retry
      await first.http.post('/fhir/Observation').send(observation(patient, '8867-4'));
      await receiver.waitFor('/flaky', 1);
      // 2. a change committed while no matcher runs
      await first.app.get(SubscriptionMatcher).onModuleDestroy();
      const late = (await first.http.post('/fhir/Observation').send(observation(patient, '2708-6'))).body;
      await first.app.close();

      second = await startTestApp({ DATABASE_SCHEMA: schema });
      const flaky = await receiver.waitFor('/flaky', 2);
      const later = await receiver.waitFor('/later', 1);
      await sleep(1500);
      expect(receiver.at('/flaky').length).toBe(2); // the failed attempt, then the successful retry
      expect(later.length).toBe(1);
      expect(JSON.parse(later[0].body).id).toBe(late.id);
      expect(JSON.parse(flaky[1].body).code.coding[0].code).toBe('8867-4');
    } finally {
      if (second) await second.close();
      else await first.close().catch(() => undefined);
      await receiver.stop();
    }
  });
});

import { SubscriptionOwnerAdminRole1795647300000 } from '../../migrations/1795647300000-SubscriptionOwnerAdminRole';
import { FHIR_JSON } from '../helpers/test-app';
import { Receiver } from '../fhir/subscriptions/receiver';
import { tokenFor } from './scope-fixtures';
import { backendToken, SmartApp, startSmartApp } from './smart-helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HEART_RATE = 'http://loinc.org|8867-4';

/**
 * A Subscription's notifications are bounded by its writer's access exactly
 * as a request with the writer's token would be (R4 subscription.html under
 * SMART App Launch 2.0 scopes, README "Admin tokens"): a user with the admin
 * role and no fhirUser has `user/` rules unbounded by compartment, but admin
 * powers only with `user/*.cruds`. The writer's admin role is recorded with
 * the Subscription (`subscription_owner.owner.adminRole`, migration
 * SubscriptionOwnerAdminRole fills it in for owners recorded before).
 */
describe('Subscriptions of a user with the admin role are bounded like the admin\'s requests', () => {
  let s: SmartApp;
  let receiver: Receiver;
  let endpoint: string;
  let system: string;
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  async function observation(patient: string): Promise<string> {
    const r = await s.http
      .post('/fhir/Observation')
      .set(bearer(system))
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: `Patient/${patient}` } });
    expect(r.status).toBe(201);
    return r.body.id;
  }

  async function subscribe(token: string, path: string): Promise<any> {
    const body = {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'test',
      criteria: `Observation?code=${HEART_RATE}`,
      channel: { type: 'rest-hook', endpoint: `${endpoint}${path}`, payload: 'application/fhir+json' },
    };
    const r = await s.http.post('/fhir/Subscription').set(bearer(token)).set('Content-Type', FHIR_JSON).send(body);
    expect(r.status).toBe(201);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const sub = (await s.http.get(`/fhir/Subscription/${r.body.id}`).set(bearer(system))).body;
      if (['active', 'error'].includes(sub.status) || Date.now() > deadline) return sub;
      await sleep(100);
    }
  }

  const notified = (path: string): string[] => receiver.at(path).map((r) => JSON.parse(r.body).id);
  const owner = async (id: string) => (await s.db.query('SELECT owner FROM subscription_owner WHERE id = $1', [id])).rows[0].owner;

  beforeAll(async () => {
    s = await startSmartApp();
    receiver = new Receiver();
    endpoint = await receiver.start();
    system = (await backendToken(s, 'system/*.cruds', 'ec-backend')).body.access_token;
    for (const id of ['alice', 'bob']) {
      await s.http.put(`/fhir/Patient/${id}`).set(bearer(system)).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', id, name: [{ family: id }] });
    }
  });
  afterAll(async () => {
    await s.close();
    await receiver.stop();
  });

  it('an admin\'s token with narrower scopes (user/Observation.rs, no admin powers) reads every patient\'s Observations, and so does its Subscription', async () => {
    const narrow = await tokenFor(s, 'admin', 'user/Observation.rs user/Subscription.cruds');
    // the request: user/ rules of the admin role are not bounded to a compartment
    const bobs = await observation('bob');
    expect((await s.http.get(`/fhir/Observation/${bobs}`).set(bearer(narrow))).status).toBe(200);
    // its Subscription: the same access
    const sub = await subscribe(narrow, '/narrow');
    expect(sub.status).toBe('active');
    expect(await owner(sub.id)).toMatchObject({ username: 'admin', adminRole: true, admin: false });
    const a = await observation('alice');
    const b = await observation('bob');
    await receiver.waitFor('/narrow', 2);
    // (an Observation written just before the Subscription turned active may be notified too: the feed is at-least-once)
    expect(notified('/narrow')).toEqual(expect.arrayContaining([a, b]));
  });

  it('the role never widens the scopes: an admin\'s patient/ scopes keep its Subscription to the patient in context', async () => {
    const launched = await tokenFor(s, 'admin', 'launch/patient patient/Observation.rs user/Subscription.cruds', 'alice');
    const bobs = await observation('bob');
    expect((await s.http.get(`/fhir/Observation/${bobs}`).set(bearer(launched))).status).toBe(404);
    const sub = await subscribe(launched, '/launched');
    expect(sub.status).toBe('active');
    expect(await owner(sub.id)).toMatchObject({ username: 'admin', patient: 'alice', adminRole: true, admin: false });
    const other = await observation('bob');
    const own = await observation('alice');
    await receiver.waitFor('/launched', 1);
    await sleep(1000);
    expect(notified('/launched')).toContain(own);
    expect(notified('/launched')).not.toContain(other);
    expect(notified('/launched')).not.toContain(bobs);
    // every notification is one of Alice's Observations
    for (const id of notified('/launched')) {
      expect((await s.http.get(`/fhir/Observation/${id}`).set(bearer(system))).body.subject.reference).toBe('Patient/alice');
    }
  });

  it('the migration records the admin role of owners written before it (from admin powers or the user\'s roles)', async () => {
    const narrow = await tokenFor(s, 'admin', 'user/Observation.rs user/Subscription.cruds');
    const sub = await subscribe(narrow, '/old');
    const other = await subscribe(await tokenFor(s, 'dr.smith', 'user/Observation.rs user/Subscription.cruds'), '/old-practitioner');
    // as recorded before this release: no adminRole
    await s.db.query(`UPDATE subscription_owner SET owner = owner - 'adminRole' WHERE id = ANY($1)`, [[sub.id, other.id]]);
    const runner = { query: (sql: string, params?: unknown[]) => s.db.query(sql, params as any[]) };
    await new SubscriptionOwnerAdminRole1795647300000().up(runner as any);
    expect(await owner(sub.id)).toMatchObject({ adminRole: true });
    expect(await owner(other.id)).toMatchObject({ adminRole: false });
  });
});

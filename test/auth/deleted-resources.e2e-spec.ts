import { FHIR_JSON } from '../helpers/test-app';
import { loadFixtures, obs, tokenFor } from './scope-fixtures';
import { SmartApp, startSmartApp } from './smart-helpers';

const VITAL = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] };

/**
 * Deleted resources under patient-bounded SMART tokens. R4 http.html#read: a read of a deleted
 * resource answers 410 Gone; a token bounded by Alice's compartment gets that 410 for what was in
 * her compartment when it was deleted (its last version before the deletion), and 404 for a
 * deleted resource that was not (security.html: no existence oracle). http.html#delete: a DELETE
 * of an id that never existed is done (204) for a token that could see that id, but a bounded
 * token keeps 404 so that missing and invisible look alike. A deleted resource is not re-created
 * by a bounded token, and the refusal names the deletion only to a token that could see it.
 * Patient/$everything (patient-operation-everything.html) returns what the token may read.
 */
describe('deleted resources and patient-bounded tokens', () => {
  let s: SmartApp;
  let admin: string;
  let alice: string;
  let aliceObs: string;
  const as = (token: string) => ({ Authorization: `Bearer ${token}`, 'Content-Type': FHIR_JSON });
  const put = (token: string, r: { resourceType: string; id: string }) => s.http.put(`/fhir/${r.resourceType}/${r.id}`).set(as(token)).send(r);
  const del = (token: string, url: string) => s.http.delete(url).set(as(token));
  const get = (token: string, url: string) => s.http.get(url).set(as(token));

  beforeAll(async () => {
    // one database session, as the embedded database has: the re-creation check inside a transaction reads on
    // the transaction's connection (waiting for a second one hung there)
    s = await startSmartApp({ DB_POOL_SIZE: '1' });
    admin = await loadFixtures(s);
    alice = await tokenFor(s, 'alice', 'patient/*.cruds');
    aliceObs = await tokenFor(s, 'alice', 'patient/Patient.rs patient/Observation.rs');
    for (const [id, who] of [['del-a', 'alice'], ['del-b', 'bob'], ['del-a2', 'alice'], ['del-b2', 'bob']]) {
      expect((await put(admin, obs(id, who, VITAL))).status).toBe(201);
      expect((await del(admin, `/fhir/Observation/${id}`)).status).toBe(204);
    }
  }, 60_000);
  afterAll(async () => s?.close());

  it('read of a deleted resource of her own compartment: 410 like an unbounded token (http.html#read)', async () => {
    expect((await get(admin, '/fhir/Observation/del-a')).status).toBe(410);
    const r = await get(alice, '/fhir/Observation/del-a');
    expect(r.status).toBe(410);
    expect(r.body.resourceType).toBe('OperationOutcome');
    // the versions stay readable as for an unbounded token: the live one 200, the deletion 410, the history lists both
    expect((await get(alice, '/fhir/Observation/del-a/_history/1')).status).toBe(200);
    expect((await get(alice, '/fhir/Observation/del-a/_history/2')).status).toBe(410);
    expect((await get(alice, '/fhir/Observation/del-a/_history')).body.entry).toHaveLength(2);
    // a batch read entry is checked like the read it stands for (http.html §3.1.0.11): 410 for hers, 404 for Bob's
    const batch = await s.http
      .post('/fhir')
      .set(as(alice))
      .send({ resourceType: 'Bundle', type: 'batch', entry: ['del-a', 'del-b'].map((id) => ({ request: { method: 'GET', url: `Observation/${id}` } })) });
    expect(batch.body.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['410', '404']);
  });

  it('a deleted resource that was not in her compartment stays 404, exactly like an unknown id', async () => {
    const theirs = await get(alice, '/fhir/Observation/del-b');
    const unknown = await get(alice, '/fhir/Observation/no-such-obs');
    expect([theirs.status, unknown.status]).toEqual([404, 404]);
    expect(theirs.body.issue[0].diagnostics).toBe('Observation/del-b is not known');
    expect(unknown.body.issue[0].diagnostics).toBe('Observation/no-such-obs is not known');
    expect((await get(alice, '/fhir/Observation/del-b/_history/1')).status).toBe(404);
    expect((await get(alice, '/fhir/Observation/del-b/_history')).status).toBe(404);
  });

  it('DELETE of an id that never existed: 204 for an unbounded token, 404 for a bounded one (missing and invisible alike)', async () => {
    expect((await del(admin, '/fhir/Observation/never-existed')).status).toBe(204);
    const missing = await del(alice, '/fhir/Observation/never-existed-2');
    const invisible = await del(alice, '/fhir/Observation/obs-b-vital');
    expect([missing.status, invisible.status]).toEqual([404, 404]);
    expect((await get(admin, '/fhir/Observation/obs-b-vital')).status).toBe(200);
    // in a batch, the same answers per entry
    const batch = await s.http
      .post('/fhir')
      .set(as(alice))
      .send({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'DELETE', url: 'Observation/never-existed-3' } }] });
    expect(batch.body.entry[0].response.status).toMatch(/^404/);
    const adminBatch = await s.http
      .post('/fhir')
      .set(as(admin))
      .send({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'DELETE', url: 'Observation/never-existed-3' } }] });
    expect(adminBatch.body.entry[0].response.status).toMatch(/^204/);
  });

  it('re-creating a deleted resource: refused; the refusal names the deletion only for her own (PUT, conditional update, transaction)', async () => {
    const own = await put(alice, obs('del-a2', 'alice', VITAL));
    expect(own.status).toBe(403);
    expect(own.body.issue[0].diagnostics).toMatch(/re-creating the deleted Observation\/del-a2/);
    // Bob's deleted Observation, re-created with Alice's content: the answer of an id she cannot see
    const theirs = await put(alice, obs('del-b2', 'alice', VITAL));
    const live = await put(alice, obs('obs-b-vital', 'alice', VITAL));
    expect([theirs.status, live.status]).toEqual([404, 404]);
    expect(theirs.body.issue[0].diagnostics).toBe('Observation/del-b2 is not known');
    // conditional update with no match and the deleted id in the body
    const cond = await s.http.put('/fhir/Observation?identifier=urn:x|nothing').set(as(alice)).send(obs('del-b2', 'alice', VITAL));
    expect(cond.status).toBe(404);
    expect(JSON.stringify(cond.body)).not.toMatch(/deleted/);
    const tx = await s.http
      .post('/fhir')
      .set(as(alice))
      .send({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: obs('del-b2', 'alice', VITAL), request: { method: 'PUT', url: 'Observation?identifier=urn:x|nothing' } }],
      });
    expect(tx.status).toBe(404);
    expect(JSON.stringify(tx.body)).not.toMatch(/deleted/);
    // nothing was written
    expect((await get(admin, '/fhir/Observation/del-b2')).status).toBe(410);
  });

  it('Patient/$everything returns what the token may read: types it has no scope for are left out, not a 403', async () => {
    const r = await get(aliceObs, '/fhir/Patient/alice/$everything');
    expect(r.status).toBe(200);
    const types = new Set(r.body.entry.map((e: any) => e.resource.resourceType));
    expect([...types].sort()).toEqual(['Observation', 'Patient']);
    const counted = await get(aliceObs, '/fhir/Patient/alice/$everything?_total=accurate');
    expect(counted.status).toBe(200);
    expect(counted.body.total).toBe(r.body.entry.length);
    // a token that may not read the Patient is refused for that reason, naming Patient
    const obsOnly = await tokenFor(s, 'alice', 'patient/Observation.rs');
    const refused = await get(obsOnly, '/fhir/Patient/alice/$everything');
    expect(refused.status).toBe(403);
    expect(refused.body.issue[0].diagnostics).toMatch(/read on Patient/);
    expect(refused.body.issue[0].diagnostics).not.toMatch(/Account/);
  });
});

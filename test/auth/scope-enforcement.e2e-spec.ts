import { FHIR_JSON } from '../helpers/test-app';
import { ids, loadFixtures, obs, tokenFor } from './scope-fixtures';
import { backendToken, SmartApp, startSmartApp } from './smart-helpers';

const VITAL = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] };

/**
 * SMART App Launch 2.0 §"Scopes for requesting FHIR resources": each scope
 * form (v1 .read/.write/.*, v2 letters, granular ?category=, patient/ user/
 * system/) allows exactly its interactions (c r u d s) on its types, within
 * the patient compartment for patient/ scopes; the rest is refused (403, or
 * 404 where answering would reveal that another patient's resource exists).
 */
describe('SMART scope enforcement matrix', () => {
  let s: SmartApp;
  const tok: Record<string, string> = {};
  const get = (t: string, url: string) => s.http.get(url).set('Authorization', `Bearer ${tok[t]}`);
  const send = (t: string, method: 'post' | 'put' | 'patch' | 'delete', url: string, body?: unknown) => {
    const r = s.http[method](url).set('Authorization', `Bearer ${tok[t]}`);
    if (body === undefined) return r;
    return r.set('Content-Type', method === 'patch' ? 'application/json-patch+json' : FHIR_JSON).send(body as object);
  };

  beforeAll(async () => {
    s = await startSmartApp();
    await loadFixtures(s);
    tok.v1read = await tokenFor(s, 'alice', 'patient/Observation.read');
    tok.v1write = await tokenFor(s, 'alice', 'patient/Observation.write');
    tok.v2rs = await tokenFor(s, 'alice', 'patient/Observation.rs');
    tok.v2r = await tokenFor(s, 'alice', 'patient/Observation.r');
    tok.vital = await tokenFor(s, 'alice', 'patient/Observation.cruds?category=vital-signs');
    tok.all = await tokenFor(s, 'alice', 'patient/*.cruds');
    tok.allV1 = await tokenFor(s, 'alice', 'patient/*.*');
    tok.aliceUser = await tokenFor(s, 'alice', 'user/*.rs');
    tok.drUser = await tokenFor(s, 'dr.smith', 'user/*.read');
    tok.drPickedBob = await tokenFor(s, 'dr.smith', 'launch/patient patient/*.rs', 'bob');
    tok.admin = await tokenFor(s, 'admin', 'user/Patient.r');
    tok.adminAll = await tokenFor(s, 'admin', 'user/*.cruds');
    tok.sysObs = (await backendToken(s, 'system/Observation.rs', 'ec-backend')).body.access_token;
  });
  afterAll(async () => s?.close());

  it('read: own compartment yes, another patient 404, types not granted 403 (v1 and v2)', async () => {
    const cases: [string, string, number][] = [
      ['v1read', '/fhir/Observation/obs-a-vital', 200],
      ['v1read', '/fhir/Observation/obs-b-vital', 404],
      ['v1read', '/fhir/Observation/does-not-exist', 404],
      ['v1read', '/fhir/Condition/cond-a', 403],
      ['v1write', '/fhir/Observation/obs-a-vital', 403],
      ['v2rs', '/fhir/Observation/obs-a-lab', 200],
      ['v2rs', '/fhir/Observation/obs-b-vital', 404],
      ['v2r', '/fhir/Observation/obs-a-lab', 200],
      ['all', '/fhir/Patient/alice', 200],
      ['all', '/fhir/Patient/bob', 404],
      ['all', '/fhir/Condition/cond-b', 404],
      ['all', '/fhir/Practitioner/dr-smith', 200],
      ['all', '/fhir/Bundle/stored-doc', 403],
      ['allV1', '/fhir/Condition/cond-a', 200],
      ['aliceUser', '/fhir/Condition/cond-a', 200],
      ['aliceUser', '/fhir/Condition/cond-b', 404],
      ['drUser', '/fhir/Condition/cond-b', 200],
      ['drUser', '/fhir/Bundle/stored-doc', 200],
      ['drPickedBob', '/fhir/Condition/cond-b', 200],
      ['drPickedBob', '/fhir/Condition/cond-a', 404],
      ['sysObs', '/fhir/Observation/obs-b-vital', 200],
      ['sysObs', '/fhir/Condition/cond-a', 403],
      // the admin role does not widen a token (admin-scopes.e2e-spec.ts): user/Patient.r reads every Patient, nothing else
      ['admin', '/fhir/Patient/bob', 200],
      ['admin', '/fhir/Condition/cond-b', 403],
      ['adminAll', '/fhir/Condition/cond-b', 200],
    ];
    for (const [t, url, status] of cases) {
      const res = await get(t, url);
      expect({ t, url, status: res.status }).toEqual({ t, url, status });
      if (status >= 400) expect(res.body.resourceType).toBe('OperationOutcome');
    }
  });

  it('granular v2 scope: only resources matching ?category=vital-signs, in read and search', async () => {
    expect((await get('vital', '/fhir/Observation/obs-a-vital')).status).toBe(200);
    expect((await get('vital', '/fhir/Observation/obs-a-lab')).status).toBe(404);
    const search = await get('vital', '/fhir/Observation');
    expect(search.status).toBe(200);
    expect(ids(search.body)).toEqual(['Observation/obs-a-vital']);
  });

  it('vread follows read (another patient 404), and history instance too', async () => {
    expect((await get('v2rs', '/fhir/Observation/obs-a-vital/_history/1')).status).toBe(200);
    expect((await get('v2rs', '/fhir/Observation/obs-b-vital/_history/1')).status).toBe(404);
    expect((await get('v2rs', '/fhir/Observation/obs-a-vital/_history')).status).toBe(200);
    expect((await get('v2rs', '/fhir/Observation/obs-b-vital/_history')).status).toBe(404);
    expect((await get('v2r', '/fhir/Observation/obs-a-vital/_history')).status).toBe(200);
  });

  it('type and system history need unbounded scopes', async () => {
    expect((await get('v2rs', '/fhir/Observation/_history')).status).toBe(403);
    expect((await get('all', '/fhir/_history')).status).toBe(403);
    expect((await get('sysObs', '/fhir/Observation/_history')).status).toBe(200);
    const all = await get('sysObs', '/fhir/_history');
    expect(all.status).toBe(403);
    // the refusal names no type the client did not ask for (it used to say "Account", the first alphabetically)
    expect(all.body.issue[0].diagnostics).not.toMatch(/Account/);
    expect(all.body.issue[0].diagnostics).toMatch(/without _type/);
    expect((await get('sysObs', '/fhir/_history?_type=Observation')).status).toBe(200);
  });

  it('search (s): results bounded to the compartment; r without s cannot search', async () => {
    expect(ids((await get('v2rs', '/fhir/Observation')).body)).toEqual(['Observation/obs-a-lab', 'Observation/obs-a-vital']);
    expect(ids((await get('v1read', '/fhir/Observation?subject=Patient/bob')).body)).toEqual([]);
    expect((await get('v2r', '/fhir/Observation')).status).toBe(403);
    expect((await get('v2rs', '/fhir/Condition')).status).toBe(403);
    expect(ids((await get('drUser', '/fhir/Observation')).body)).toHaveLength(3);
    expect(ids((await get('sysObs', '/fhir/Observation')).body)).toHaveLength(3);
    const post = await s.http
      .post('/fhir/Observation/_search')
      .set('Authorization', `Bearer ${tok.v2rs}`)
      .type('form')
      .send({ subject: 'Patient/bob' });
    expect(post.status).toBe(200);
    expect(ids(post.body)).toEqual([]);
  });

  it('create (c): inside the compartment only; v1 write allows it, read scopes do not', async () => {
    const mine = { ...obs('x', 'alice', VITAL), id: undefined };
    const theirs = { ...obs('x', 'bob', VITAL), id: undefined };
    expect((await send('v1write', 'post', '/fhir/Observation', mine)).status).toBe(201);
    expect((await send('v1write', 'post', '/fhir/Observation', theirs)).status).toBe(403);
    expect((await send('v2rs', 'post', '/fhir/Observation', mine)).status).toBe(403);
    expect((await send('all', 'post', '/fhir/Patient', { resourceType: 'Patient' })).status).toBe(403);
    expect((await send('all', 'post', '/fhir/Practitioner', { resourceType: 'Practitioner' })).status).toBe(403);
    // granular: the new resource must match the filter
    expect((await send('vital', 'post', '/fhir/Observation', mine)).status).toBe(201);
    const lab = { ...mine, category: [{ coding: [{ code: 'laboratory' }] }] };
    expect((await send('vital', 'post', '/fhir/Observation', lab)).status).toBe(403);
  });

  it('writes: every Patient compartment the content joins must be the token patient\'s (CompartmentDefinition-patient), not just one', async () => {
    const sys = (await backendToken(s, 'system/*.cruds', 'ec-backend')).body.access_token;
    await s.http.put('/fhir/Patient/carol').set('Authorization', `Bearer ${sys}`).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', id: 'carol' });
    const mine = { ...obs('x', 'alice', VITAL), id: undefined };
    // Observation.performer puts it in carol's compartment too
    expect((await send('all', 'post', '/fhir/Observation', { ...mine, performer: [{ reference: 'Patient/carol' }] })).status).toBe(403);
    expect((await send('all', 'post', '/fhir/Observation', { ...mine, performer: [{ reference: `${s.baseUrl}/Patient/carol` }] })).status).toBe(403);
    expect((await send('all', 'post', '/fhir/Observation', { ...mine, performer: [{ reference: 'Patient/alice' }] })).status).toBe(201);
    const group = (...members: string[]) => ({ resourceType: 'Group', type: 'person', actual: true, member: members.map((m) => ({ entity: { reference: m } })) });
    expect((await send('all', 'post', '/fhir/Group', group('Patient/alice', 'Patient/carol'))).status).toBe(403);
    expect((await send('all', 'post', '/fhir/Group', group('Patient/alice'))).status).toBe(201);
    await send('all', 'put', '/fhir/Observation/obs-a-perf', obs('obs-a-perf', 'alice', VITAL));
    const perf = [{ op: 'add', path: '/performer/-', value: { reference: 'Patient/carol' } }];
    expect((await send('all', 'patch', '/fhir/Observation/obs-a-perf', perf)).status).toBe(403);
    expect((await get('drUser', '/fhir/Observation?performer=Patient/carol')).body.total ?? 0).toBe(0);
  });

  it('update and patch (u): own resources, and never moved to another patient', async () => {
    const a = obs('obs-a-upd', 'alice', VITAL);
    expect((await send('all', 'put', '/fhir/Observation/obs-a-upd', a)).status).toBe(201);
    expect((await send('all', 'put', '/fhir/Observation/obs-a-upd', { ...a, status: 'amended' })).status).toBe(200);
    expect((await send('all', 'put', '/fhir/Observation/obs-a-upd', obs('obs-a-upd', 'bob', VITAL))).status).toBe(403);
    expect((await send('all', 'put', '/fhir/Observation/obs-b-vital', obs('obs-b-vital', 'alice', VITAL))).status).toBe(404);
    expect((await send('v2rs', 'put', '/fhir/Observation/obs-a-upd', a)).status).toBe(403);
    const ok = [{ op: 'replace', path: '/status', value: 'corrected' }];
    expect((await send('all', 'patch', '/fhir/Observation/obs-a-upd', ok)).status).toBe(200);
    const move = [{ op: 'replace', path: '/subject/reference', value: 'Patient/bob' }];
    expect((await send('all', 'patch', '/fhir/Observation/obs-a-upd', move)).status).toBe(403);
    expect((await send('all', 'patch', '/fhir/Observation/obs-b-vital', ok)).status).toBe(404);
    expect((await get('all', '/fhir/Observation/obs-a-upd')).body.subject.reference).toBe('Patient/alice');
    // a deleted id (here Bob's) is not re-created by a bounded token, and the answer is the same 404 as for
    // Bob's live resources: nothing about the id's past leaks (FHIR security.html)
    const sys = (await backendToken(s, 'system/*.cruds', 'ec-backend')).body.access_token;
    await s.http.put('/fhir/Observation/obs-b-gone').set('Authorization', `Bearer ${sys}`).set('Content-Type', FHIR_JSON).send(obs('obs-b-gone', 'bob', VITAL));
    await s.http.delete('/fhir/Observation/obs-b-gone').set('Authorization', `Bearer ${sys}`);
    const gone = await send('all', 'put', '/fhir/Observation/obs-b-gone', obs('obs-b-gone', 'alice', VITAL));
    const live = await send('all', 'put', '/fhir/Observation/obs-b-vital', obs('obs-b-vital', 'alice', VITAL));
    expect([gone.status, live.status]).toEqual([404, 404]);
    expect(JSON.stringify(gone.body)).not.toMatch(/deleted/);
  });

  it('delete (d): own resources only; conditional writes see only the compartment (conditional-scopes.e2e-spec.ts)', async () => {
    await send('all', 'put', '/fhir/Observation/obs-a-del', obs('obs-a-del', 'alice', VITAL));
    expect((await send('v2rs', 'delete', '/fhir/Observation/obs-a-del')).status).toBe(403);
    expect((await send('all', 'delete', '/fhir/Observation/obs-b-vital')).status).toBe(404);
    expect((await send('all', 'delete', '/fhir/Observation/obs-a-del')).status).toBe(204);
    expect((await get('drUser', '/fhir/Observation/obs-b-vital')).status).toBe(200);
    // Bob's Observations are invisible to the condition: nothing to delete
    expect((await send('all', 'delete', '/fhir/Observation?subject=Patient/bob')).status).toBe(204);
    expect((await get('drUser', '/fhir/Observation/obs-b-vital')).status).toBe(200);
    expect((await send('v2rs', 'delete', '/fhir/Observation?subject=Patient/alice')).status).toBe(403);
    expect((await send('all', 'put', '/fhir/Observation?subject=Patient/bob', obs('z', 'bob', VITAL))).status).toBe(403);
    const ifNoneExist = await s.http
      .post('/fhir/Observation')
      .set('Authorization', `Bearer ${tok.v1write}`)
      .set('If-None-Exist', 'subject=Patient/bob')
      .send({ ...obs('x', 'alice', VITAL), id: undefined });
    expect(ifNoneExist.status).toBe(403); // .write has no search: the condition could not run
  });

  it('user/ scopes act for the fhirUser; a practitioner may not write with read scopes', async () => {
    expect((await send('drUser', 'post', '/fhir/Observation', { ...obs('x', 'bob', VITAL), id: undefined })).status).toBe(403);
    expect(ids((await get('aliceUser', '/fhir/Condition')).body)).toEqual(['Condition/cond-a']);
  });

  it('batch and transaction: every entry is checked as its own request (bundle-scopes.e2e-spec.ts)', async () => {
    const tx = (entries: object[]) => ({ resourceType: 'Bundle', type: 'transaction', entry: entries });
    const create = (patient: string) => ({
      resource: { ...obs('x', patient, VITAL), id: undefined },
      request: { method: 'POST', url: 'Observation' },
    });
    const okTx = await send('all', 'post', '/fhir', tx([create('alice')]));
    expect(okTx.status).toBe(200);
    const badTx = await send('all', 'post', '/fhir', tx([create('alice'), create('bob')]));
    expect(badTx.status).toBe(403);
    expect(JSON.stringify(badTx.body)).toContain('Bundle.entry[1]');
    const batch = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Observation/obs-b-vital' } }] };
    const hidden = await send('all', 'post', '/fhir', batch);
    expect(hidden.status).toBe(200);
    expect(hidden.body.entry[0].response.status).toMatch(/^404/);
    const batchSearch = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Condition?subject=Patient/bob' } }] };
    const r = await send('all', 'post', '/fhir', batchSearch);
    expect(r.status).toBe(200);
    expect(r.body.entry[0].resource.total ?? r.body.entry[0].resource.entry?.length ?? 0).toBe(0);
    expect((await send('v2rs', 'post', '/fhir', tx([create('alice')]))).status).toBe(403);
  });

  it('Binary follows its securityContext (binary.html): reachable like the resource it names', async () => {
    const cases: [string, string, number][] = [
      ['all', '/fhir/Binary/bin-a', 200],
      ['all', '/fhir/Binary/bin-b', 404],
      // unreachable, no securityContext, or missing: the same 404 (FHIR security.html: no existence oracle)
      ['all', '/fhir/Binary/bin-free', 404],
      ['all', '/fhir/Binary/no-such-binary', 404],
      ['sysObs', '/fhir/Binary/bin-free', 404],
      ['v2rs', '/fhir/Binary/bin-a', 200],
      ['v2rs', '/fhir/Binary/bin-b', 404],
      ['aliceUser', '/fhir/Binary/bin-b', 404],
      ['drUser', '/fhir/Binary/bin-b', 200],
      ['all', '/fhir/Binary', 403],
    ];
    for (const [t, url, status] of cases) {
      const res = await get(t, url).set('Accept', FHIR_JSON);
      expect({ t, url, status: res.status }).toEqual({ t, url, status });
      if (status === 404) expect(JSON.stringify(res.body)).not.toMatch(/Observation/);
    }
    const upload = (t: string, context?: string) => {
      const r = s.http.post('/fhir/Binary').set('Authorization', `Bearer ${tok[t]}`).set('Content-Type', 'text/plain');
      return (context ? r.set('X-Security-Context', context) : r).send('note');
    };
    expect((await upload('all', 'Observation/obs-a-vital')).status).toBe(201);
    expect((await upload('all', 'Observation/obs-b-vital')).status).toBe(404);
    expect((await upload('all')).status).toBe(403);
  });

  it('operations: $validate needs no data access; system operations refuse patient tokens', async () => {
    const v = await send('v2rs', 'post', '/fhir/Observation/$validate', { resourceType: 'Observation', status: 'final', code: { text: 'x' } });
    expect(v.status).toBe(200);
    expect((await get('all', '/fhir/$export')).status).toBe(403);
  });

  it('no token, a malformed token or another scheme: 401 with WWW-Authenticate; a malformed Bearer header 400 (RFC 6750 §3)', async () => {
    const none = await s.http.get('/fhir/Observation/obs-a-vital');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer realm="fhir"$/);
    const bad = await s.http.get('/fhir/Observation/obs-a-vital').set('Authorization', 'Bearer not.a.jwt');
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    const basic = await s.http.get('/fhir/Observation/obs-a-vital').set('Authorization', 'Basic YTpi');
    expect(basic.status).toBe(401);
    expect(basic.headers['www-authenticate']).toMatch(/^Bearer realm="fhir"$/); // another scheme: no error code (§3.1)
    // RFC 6750 §3.1 invalid_request: "The resource server SHOULD respond with the HTTP 400 (Bad Request) status code"
    for (const header of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer ä']) {
      const malformed = await s.http.get('/fhir/Observation/obs-a-vital').set('Authorization', header);
      expect({ header, status: malformed.status }).toEqual({ header, status: 400 });
      expect(malformed.headers['www-authenticate']).toMatch(/error="invalid_request"/);
      expect(malformed.body.resourceType).toBe('OperationOutcome');
    }
  });
});

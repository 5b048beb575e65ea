import { FHIR_JSON } from '../helpers/test-app';
import { ids, loadFixtures, tokenFor } from './scope-fixtures';
import { authorizeThroughPages, SmartApp, startSmartApp } from './smart-helpers';

/**
 * The admin role never replaces the token's scopes. SMART App Launch
 * §"Profile audience and scope": a token delegates a limited subset of the
 * user's permissions, and (step 6) the resource server ensures its scope
 * covers the request. Admin powers (unrestricted data, AuditEvent,
 * $reindex, /auth/register, /auth/keys/rotate) need the admin role AND the
 * full wildcard `user/*.cruds` (v1 `user/*.*`) granted; with any other scope
 * an admin's token is bounded like a practitioner's.
 */
describe('admin tokens are bounded by their scopes', () => {
  let s: SmartApp;
  const tok: Record<string, string> = {};
  const as = (t: string) => ({ Authorization: `Bearer ${tok[t]}` });

  beforeAll(async () => {
    s = await startSmartApp();
    await loadFixtures(s);
    tok.openid = await tokenFor(s, 'admin', 'openid');
    tok.obsOnly = await tokenFor(s, 'admin', 'user/Observation.rs');
    tok.patientBob = await tokenFor(s, 'admin', 'launch/patient patient/Observation.rs', 'bob');
    tok.readAll = await tokenFor(s, 'admin', 'user/*.rs');
    tok.full = await tokenFor(s, 'admin', 'user/*.cruds');
    tok.fullV1 = await tokenFor(s, 'admin', 'user/*.*');
    tok.audit = await tokenFor(s, 'admin', 'user/AuditEvent.rs');
  });
  afterAll(async () => s?.close());

  const register = (t: string) =>
    s.http.post('/auth/register').set(as(t)).send({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'system/*.cruds' });
  const reindex = (t: string) =>
    s.http.post('/fhir/$reindex').set(as(t)).set('Content-Type', FHIR_JSON).send({ resourceType: 'Parameters', parameter: [{ name: 'type', valueString: 'Basic' }] });

  it('an admin token granted only openid reaches no FHIR data and no admin endpoint', async () => {
    expect((await s.http.get('/fhir/Patient/bob').set(as('openid'))).status).toBe(403);
    expect((await s.http.get('/fhir/Condition').set(as('openid'))).status).toBe(403);
    expect((await s.http.get('/fhir/AuditEvent').set(as('openid'))).status).toBe(403);
    const create = await s.http.post('/fhir/Patient').set(as('openid')).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient' });
    expect(create.status).toBe(403);
    expect((await register('openid')).status).toBe(403);
    expect((await s.http.post('/auth/keys/rotate').set(as('openid'))).status).toBe(403);
    expect((await s.http.post('/auth/launch').set(as('openid')).send({ patient: 'bob' })).status).toBe(403);
    expect((await reindex('openid')).status).toBe(403);
  });

  it('user/ scopes of an admin are unbounded by compartment but limited to the granted types and interactions', async () => {
    expect((await s.http.get('/fhir/Observation/obs-b-vital').set(as('obsOnly'))).status).toBe(200);
    expect((await s.http.get('/fhir/Condition/cond-b').set(as('obsOnly'))).status).toBe(403);
    const write = await s.http.put('/fhir/Observation/obs-b-vital').set(as('obsOnly')).set('Content-Type', FHIR_JSON).send({ resourceType: 'Observation', id: 'obs-b-vital', status: 'final', code: { text: 'x' } });
    expect(write.status).toBe(403);
    // read-only wildcard: data yes, admin powers no
    expect((await s.http.get('/fhir/Condition/cond-b').set(as('readAll'))).status).toBe(200);
    expect((await s.http.get('/fhir/AuditEvent').set(as('readAll'))).status).toBe(403);
    expect((await register('readAll')).status).toBe(403);
    expect((await s.http.post('/auth/keys/rotate').set(as('readAll'))).status).toBe(403);
    expect((await reindex('readAll')).status).toBe(403);
  });

  it('user/AuditEvent.rs of an admin (no fhirUser) is the whole trail, as its other user/ scopes are unbounded', async () => {
    await s.http.get('/fhir/Condition/cond-b').set(as('readAll'));
    const before = new Date(Date.now() - 1).toISOString();
    const count = async (t: string) => s.http.get(`/fhir/AuditEvent?date=lt${encodeURIComponent(before)}&_summary=count`).set(as(t));
    const [audit, full] = [await count('audit'), await count('full')];
    expect([audit.status, full.status]).toEqual([200, 200]);
    expect(full.body.total).toBeGreaterThan(0);
    expect(audit.body.total).toBe(full.body.total);
    expect((await s.http.get('/fhir/Condition/cond-b').set(as('audit'))).status).toBe(403);
  });

  it('compartment searches over every type or by POST are checked like the searches they are (search.html#compartments)', async () => {
    expect((await s.http.get('/fhir/Patient/bob/*').set(as('openid'))).status).toBe(403);
    const form = (t: string, type: string) => s.http.post(`/fhir/Patient/bob/${type}/_search`).set(as(t)).type('form').send('');
    expect((await form('obsOnly', 'Condition')).status).toBe(403);
    expect((await form('obsOnly', 'Observation')).status).toBe(200);
    const all = await s.http.get('/fhir/Patient/bob/*').set(as('obsOnly'));
    expect(all.status).toBe(200);
    expect(ids(all.body).every((r: string) => r.startsWith('Observation/'))).toBe(true);
  });

  it('patient/ scopes of an admin are bounded to the patient in context', async () => {
    expect((await s.http.get('/fhir/Observation/obs-b-vital').set(as('patientBob'))).status).toBe(200);
    expect((await s.http.get('/fhir/Observation/obs-a-vital').set(as('patientBob'))).status).toBe(404);
    expect((await s.http.get('/fhir/Condition').set(as('patientBob'))).status).toBe(403);
    expect(ids((await s.http.get('/fhir/Observation').set(as('patientBob'))).body)).toEqual(['Observation/obs-b-vital']);
  });

  it('the consent page tells an admin when the app would get admin powers, and only then', async () => {
    const full = await authorizeThroughPages(s, { username: 'admin', password: 'admin pw', scope: 'user/*.cruds' });
    expect(full.consent!.text).toContain('Act as an administrator');
    const narrow = await authorizeThroughPages(s, { username: 'admin', password: 'admin pw', scope: 'user/*.rs' });
    expect(narrow.consent!.text).not.toContain('Act as an administrator');
    const dr = await authorizeThroughPages(s, { username: 'dr.smith', password: 'correct horse', scope: 'user/*.cruds' });
    expect(dr.consent!.text).not.toContain('Act as an administrator');
  });

  it('the admin role with user/*.cruds (or v1 user/*.*) has admin powers', async () => {
    for (const t of ['full', 'fullV1']) {
      expect((await s.http.get('/fhir/AuditEvent?_count=1').set(as(t))).status).toBe(200);
      expect((await register(t)).status).toBe(201);
      expect((await reindex(t)).status).toBe(200);
      expect((await s.http.post('/auth/launch').set(as(t)).send({ patient: 'bob' })).status).toBe(201);
    }
    expect((await s.http.post('/auth/keys/rotate').set(as('full'))).status).toBe(200);
  });
});

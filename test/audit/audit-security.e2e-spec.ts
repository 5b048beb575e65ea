import type { AuditEvent } from 'fhir/r4';
import { loadFixtures, tokenFor } from '../auth/scope-fixtures';
import { authorizeThroughPages, backendToken, SmartApp, startSmartApp } from '../auth/smart-helpers';
import { rid, subtypes } from './audit-helpers';

// Security events (issue "Audit trail": login success and failure, token
// issued, token refused (401), access denied (403), refresh, revocation,
// client registration) as AuditEvents: DICOM type 110114 User Authentication
// or 110113 Security Alert (BALP / DICOM PS3.15 A.5), never with a token or password.
// Access to the trail: admin or system/AuditEvent.rs; patient/AuditEvent.rs
// shows who accessed the patient's own record (accounting of disclosures).
describe('security events and access to the audit trail', () => {
  let s: SmartApp;
  let admin: string;
  beforeAll(async () => {
    s = await startSmartApp();
    admin = await tokenFor(s, 'admin', 'user/*.cruds');
    await loadFixtures(s);
  });
  afterAll(async () => s?.close());

  const jti = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti as string;
  const auditSearch = (query: string, token = admin) => s.http.get(`/fhir/AuditEvent?${query}`).set('Authorization', `Bearer ${token}`);
  async function securityEvents(subtype: string, since: Date): Promise<AuditEvent[]> {
    const res = await auditSearch(`subtype=${subtype}&date=ge${since.toISOString()}&_count=100`);
    expect(res.status).toBe(200);
    return (res.body.entry ?? []).map((e: any) => e.resource);
  }
  const noSecrets = (e: AuditEvent, ...secrets: string[]) => {
    const text = JSON.stringify(e);
    for (const x of secrets) expect(text).not.toContain(x);
  };

  it('login success and failure (DCM 110114 / 110122 Login)', async () => {
    const since = new Date();
    await authorizeThroughPages(s, { scope: 'openid fhirUser user/*.rs', username: 'dr.smith', password: 'wrong password' });
    await tokenFor(s, 'dr.smith', 'openid fhirUser user/*.rs');
    const logins = await securityEvents('110122', since);
    const failed = logins.find((e) => e.outcome === '4')!;
    const ok = logins.find((e) => e.outcome === '0')!;
    expect(failed.type.code).toBe('110114');
    expect(failed.agent.some((a) => a.altId === 'dr.smith')).toBe(true);
    expect(failed.outcomeDesc).toBeTruthy();
    noSecrets(failed, 'wrong password');
    expect(ok.agent.some((a) => a.who?.reference === 'Practitioner/dr-smith')).toBe(true);
  });

  it('token issued (with its jti as agent.policy) and token refused at the token endpoint', async () => {
    const since = new Date();
    const issued = await backendToken(s, 'system/Patient.rs');
    expect(issued.status).toBe(200);
    const refused = await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'lab-portal', client_secret: 'not it' });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    const [issuedEvent] = (await securityEvents('token-issued', since)).filter((e) => e.outcome === '0');
    expect(issuedEvent.agent[0].who?.identifier?.value).toBe('ehr-sync');
    expect(issuedEvent.agent.flatMap((a) => a.policy ?? [])).toContain(jti(issued.body.access_token));
    noSecrets(issuedEvent, issued.body.access_token);
    const refusedEvent = (await securityEvents('token-refused', since)).find((e) => e.agent[0].who?.identifier?.value === 'lab-portal')!;
    expect(refusedEvent.outcome).toBe('4');
    noSecrets(refusedEvent, 'not it');
  });

  it('401 and 403 at the FHIR API are security events carrying the interaction', async () => {
    const since = new Date();
    const r401 = rid();
    expect((await s.http.get('/fhir/Patient/alice').set('X-Request-Id', r401)).status).toBe(401);
    const narrow = (await backendToken(s, 'system/Observation.rs')).body.access_token;
    const r403 = rid();
    expect((await s.http.get('/fhir/Patient/alice').set('Authorization', `Bearer ${narrow}`).set('X-Request-Id', r403)).status).toBe(403);
    const refused = (await securityEvents('token-refused', since)).find((e) => JSON.stringify(e).includes(r401))!;
    expect(refused.type.code).toBe('110114');
    expect(subtypes(refused)).toEqual(['token-refused', 'read']);
    expect(refused.outcome).toBe('4');
    const denied = (await securityEvents('access-denied', since)).find((e) => JSON.stringify(e).includes(r403))!;
    expect(denied.type.code).toBe('110113');
    expect(subtypes(denied)).toEqual(['access-denied', 'read']);
    expect(denied.agent[0].who?.identifier?.value).toBe('ehr-sync');
    expect(denied.agent.flatMap((a) => a.policy ?? [])).toContain(jti(narrow));
  });

  // RFC 6750 §3.1: a malformed Authorization header is answered 400 invalid_request; BALP: a failed
  // authentication all the same, recorded like the 401s (110114, token-refused + the interaction, outcome 4)
  it('a 400 invalid_request at the FHIR API (malformed Authorization header) is a token-refused security event like a 401', async () => {
    const since = new Date();
    const ids: string[] = [];
    for (const header of ['Bearer', 'Bearer two tokens']) {
      const id = rid();
      ids.push(id);
      const res = await s.http.get('/fhir/Patient/alice').set('Authorization', header).set('X-Request-Id', id);
      expect(res.status).toBe(400);
      expect(res.headers['www-authenticate']).toContain('invalid_request');
    }
    const refused = await securityEvents('token-refused', since);
    for (const id of ids) {
      const e = refused.find((x) => JSON.stringify(x).includes(id))!;
      expect(e).toBeDefined();
      expect(e.type.code).toBe('110114');
      expect(subtypes(e)).toEqual(['token-refused', 'read']);
      expect(e.outcome).toBe('4');
      expect(e.outcomeDesc).toMatch(/^400: .*Authorization header/);
    }
  });

  it('refresh, revocation and client registration', async () => {
    const since = new Date();
    const flow = await authorizeThroughPages(s, { scope: 'openid fhirUser offline_access user/*.rs', username: 'dr.smith', password: 'correct horse' });
    const tokens = (
      await s.http.post('/auth/token').type('form').send({
        grant_type: 'authorization_code',
        code: flow.code,
        redirect_uri: flow.redirectUri,
        code_verifier: flow.verifier,
        client_id: flow.clientId,
      })
    ).body;
    const refreshed = await s.http.post('/auth/token').type('form').send({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'demo-app' });
    expect(refreshed.status).toBe(200);
    expect((await s.http.post('/auth/revoke').type('form').send({ token: refreshed.body.access_token, client_id: 'demo-app' })).status).toBe(200);
    const registered = await s.http
      .post('/auth/register')
      .set('Authorization', `Bearer ${admin}`)
      .send({ client_name: 'Audited app', redirect_uris: ['http://localhost:9999/cb'], grant_types: ['authorization_code'] });
    expect(registered.status).toBe(201);
    const refresh = (await securityEvents('token-refreshed', since))[0];
    expect(refresh.outcome).toBe('0');
    noSecrets(refresh, tokens.refresh_token, refreshed.body.access_token);
    expect((await securityEvents('token-revoked', since)).length).toBeGreaterThan(0);
    const reg = (await securityEvents('client-registered', since))[0];
    expect(reg.outcome).toBe('0');
    noSecrets(reg, registered.body.client_secret);
  });

  // BALP: the agent is who performed the action, the registering party (the admin's client, user and
  // token), also when it is refused; the client registered is an entity (role Security User Entity)
  it('client registration: the registering party is the agent, the new client an entity; a refused one names the token presented', async () => {
    const since = new Date();
    const adminJti = jti(admin);
    const adminClient = JSON.parse(Buffer.from(admin.split('.')[1], 'base64url').toString()).client_id as string;
    const metadata = { client_name: 'Registered by admin', redirect_uris: ['http://localhost:9999/cb'], grant_types: ['authorization_code'] };
    const okId = rid();
    const registered = await s.http.post('/auth/register').set('Authorization', `Bearer ${admin}`).set('X-Request-Id', okId).send(metadata);
    expect(registered.status).toBe(201);
    const user = await tokenFor(s, 'dr.smith', 'openid fhirUser user/*.rs');
    const refusedId = rid();
    expect((await s.http.post('/auth/register').set('Authorization', `Bearer ${user}`).set('X-Request-Id', refusedId).send(metadata)).status).toBe(403);
    const badId = rid();
    const bad = await s.http.post('/auth/register').set('Authorization', `Bearer ${admin}`).set('X-Request-Id', badId).send({ grant_types: ['authorization_code'], redirect_uris: ['not a url'] });
    expect(bad.status).toBe(400);
    const events = await securityEvents('client-registered', since);
    const of = (id: string) => {
      const found = events.filter((e) => JSON.stringify(e.entity).includes(id));
      expect(found).toHaveLength(1);
      return found[0];
    };

    const ok = of(okId);
    expect(ok.outcome).toBe('0');
    expect(ok.agent[0].who?.identifier?.value).toBe(adminClient);
    expect(ok.agent[0].who?.identifier?.value).not.toBe(registered.body.client_id);
    expect(ok.agent.find((a) => a.requestor)?.altId).toBe('admin');
    expect(ok.agent.flatMap((a) => a.policy ?? [])).toContain(adminJti);
    const entity = ok.entity?.find((e) => e.what?.identifier?.value === registered.body.client_id);
    expect(entity?.what?.identifier?.system).toBe('urn:ietf:params:oauth:client-id');
    expect(entity?.role?.code).toBe('11');
    noSecrets(ok, registered.body.client_secret, admin);
    // found by the new client's id, as the identifier it is (search.html#reference `:identifier`), not as a reference
    const byEntity = await auditSearch(`entity:identifier=urn:ietf:params:oauth:client-id|${registered.body.client_id}&subtype=client-registered`);
    expect(byEntity.body.entry?.map((e: any) => e.resource.id)).toEqual([ok.id]);
    expect((await auditSearch(`entity:identifier=${registered.body.client_id}&subtype=client-registered`)).body.entry?.map((e: any) => e.resource.id)).toEqual([ok.id]);
    expect((await auditSearch(`entity:identifier=urn:other|${registered.body.client_id}`)).body.entry ?? []).toEqual([]);
    expect((await auditSearch(`entity=${registered.body.client_id}&subtype=client-registered`)).body.entry ?? []).toEqual([]);

    const refused = of(refusedId);
    expect(refused.outcome).toBe('4');
    expect(refused.outcomeDesc).toContain('insufficient_scope');
    expect(refused.agent[0].who?.display).not.toBe('anonymous');
    expect(refused.agent.find((a) => a.requestor)?.altId).toBe('dr.smith');
    expect(refused.agent.flatMap((a) => a.policy ?? [])).toContain(jti(user));
    noSecrets(refused, user);

    const invalid = of(badId);
    expect(invalid.outcome).toBe('4');
    expect(invalid.outcomeDesc).toContain('400');
    expect(invalid.agent[0].who?.identifier?.value).toBe(adminClient);
    expect(invalid.agent.flatMap((a) => a.policy ?? [])).toContain(adminJti);
  });

  // DICOM PS3.15 A.5.3 / BALP: a refused security request is recorded with outcome 4 (minor failure), and
  // every event names the client application (agent Source Role ID): a replayed refresh token or
  // authorization code (RFC 6749 §4.1.2, §10.4) ends its grant and is refused; both are recorded
  it('a replayed refresh token or code: the refusal (token-refused, outcome 4) and the grant revocation, each naming the client', async () => {
    const since = new Date();
    const flow = await authorizeThroughPages(s, { scope: 'openid fhirUser offline_access user/*.rs', username: 'dr.smith', password: 'correct horse' });
    const form = { grant_type: 'authorization_code', code: flow.code, redirect_uri: flow.redirectUri, code_verifier: flow.verifier, client_id: flow.clientId };
    const tokens = (await s.http.post('/auth/token').type('form').send(form)).body;
    const codeReplay = rid();
    expect((await s.http.post('/auth/token').set('X-Request-Id', codeReplay).type('form').send(form)).status).toBe(400);
    const flow2 = await authorizeThroughPages(s, { scope: 'openid fhirUser offline_access user/*.rs', username: 'dr.smith', password: 'correct horse' });
    const tokens2 = (await s.http.post('/auth/token').type('form').send({ ...form, code: flow2.code, code_verifier: flow2.verifier })).body;
    const refresh = { grant_type: 'refresh_token', refresh_token: tokens2.refresh_token, client_id: 'demo-app' };
    expect((await s.http.post('/auth/token').type('form').send(refresh)).status).toBe(200);
    const refreshReplay = rid();
    expect((await s.http.post('/auth/token').set('X-Request-Id', refreshReplay).type('form').send(refresh)).status).toBe(400);
    const ofRequest = async (subtype: string, id: string) => (await securityEvents(subtype, since)).filter((e) => JSON.stringify(e.entity).includes(id));
    for (const [id, grantType] of [[codeReplay, 'authorization_code'], [refreshReplay, 'refresh_token']]) {
      const [refused] = await ofRequest('token-refused', id);
      expect(refused?.outcome).toBe('4');
      expect(refused.outcomeDesc).toContain(`grant_type=${grantType}`);
      expect(refused.agent[0].who?.identifier?.value).toBe('demo-app');
      const [revoked] = await ofRequest('token-revoked', id);
      expect(revoked.agent[0].who?.identifier?.value).toBe('demo-app');
      noSecrets(refused, tokens.refresh_token, tokens2.refresh_token, flow.code!);
    }
  });

  it('reading the trail needs the admin role or system/AuditEvent.rs (a wildcard scope is not enough)', async () => {
    const wildcard = (await backendToken(s, 'system/*.rs')).body.access_token;
    expect((await auditSearch('_count=1', wildcard)).status).toBe(403);
    const named = (await backendToken(s, 'system/AuditEvent.rs')).body.access_token;
    const ok = await auditSearch('_count=1', named);
    expect(ok.status).toBe(200);
    expect(ok.body.entry).toHaveLength(1);
    for (const [method, path] of [['post', '/fhir/AuditEvent'], ['put', `/fhir/AuditEvent/${ok.body.entry[0].resource.id}`], ['delete', `/fhir/AuditEvent/${ok.body.entry[0].resource.id}`]] as const) {
      expect((await (s.http as any)[method](path).set('Authorization', `Bearer ${admin}`).send({ resourceType: 'AuditEvent' })).status).toBe(405);
    }
  });

  it("a patient sees who accessed their own record, and nothing about anyone else's", async () => {
    const doctor = await tokenFor(s, 'dr.smith', 'openid fhirUser user/*.rs');
    const r = rid();
    expect((await s.http.get('/fhir/Patient/alice').set('Authorization', `Bearer ${doctor}`).set('X-Request-Id', r)).status).toBe(200);
    await s.http.get('/fhir/Patient/bob').set('Authorization', `Bearer ${doctor}`);
    const alice = await tokenFor(s, 'alice', 'launch/patient patient/AuditEvent.rs');
    const mine = await auditSearch('_count=1000', alice);
    expect(mine.status).toBe(200);
    const events: AuditEvent[] = mine.body.entry.map((e: any) => e.resource);
    const doctorRead = events.find((e) => JSON.stringify(e).includes(r))!;
    expect(doctorRead.agent.some((a) => a.who?.reference === 'Practitioner/dr-smith')).toBe(true);
    for (const e of events) {
      const patients = (e.entity ?? []).filter((x) => x.role?.code === '1').map((x) => x.what?.reference);
      const agentIsAlice = e.agent.some((a) => a.who?.reference === 'Patient/alice');
      expect(patients.includes('Patient/alice') || agentIsAlice).toBe(true);
      expect(JSON.stringify(e)).not.toContain('Patient/bob');
    }
    // an event about Bob is not there for Alice, even by id
    const bobEvents = await auditSearch('patient=bob&_count=1');
    expect((await s.http.get(`/fhir/AuditEvent/${bobEvents.body.entry[0].resource.id}`).set('Authorization', `Bearer ${alice}`)).status).toBe(404);
  });

  // BALP PatientQuery: "when multiple patient results are returned, one AuditEvent is created for every
  // Patient"; one row serves them all here, shown to a patient/AuditEvent.rs reader as that patient's own event
  it('a search that concerned two patients shows each of them only their own Patient entity (BALP one event per Patient)', async () => {
    const doctor = await tokenFor(s, 'dr.smith', 'openid fhirUser user/*.rs');
    const r = rid();
    const both = await s.http.get('/fhir/Observation?patient=alice,bob').set('Authorization', `Bearer ${doctor}`).set('X-Request-Id', r);
    expect(new Set(both.body.entry.map((e: any) => e.resource.subject.reference))).toEqual(new Set(['Patient/alice', 'Patient/bob']));
    const patientsOf = (e: AuditEvent) => (e.entity ?? []).filter((x) => x.role?.code === '1').map((x) => x.what?.reference).sort();
    const byRequest = (events: any[]) => events.map((x: any) => x.resource as AuditEvent).find((e) => JSON.stringify(e).includes(r))!;
    // the whole event, for the admin: both Patients
    expect(patientsOf(byRequest((await auditSearch(`patient=alice&_count=50`)).body.entry))).toEqual(['Patient/alice', 'Patient/bob']);
    for (const [user, own, other] of [['alice', 'alice', 'bob'], ['bob', 'bob', 'alice']] as const) {
      const token = await tokenFor(s, user, 'launch/patient patient/AuditEvent.rs');
      const event = byRequest((await auditSearch('_count=1000', token)).body.entry);
      expect(patientsOf(event)).toEqual([`Patient/${own}`]);
      expect(event.agent.some((a) => a.who?.reference === 'Practitioner/dr-smith')).toBe(true);
      // by id, the same view
      const read = await s.http.get(`/fhir/AuditEvent/${event.id}`).set('Authorization', `Bearer ${token}`);
      expect(patientsOf(read.body)).toEqual([`Patient/${own}`]);
      // searching by the other Patient finds nothing: the view does not tell who else the request concerned
      for (const q of [`patient=${other}`, `patient=Patient/${other}`, `entity=Patient/${other}`]) {
        const found = await auditSearch(`${q}&_count=1000`, token);
        expect(found.status).toBe(200);
        expect(found.body.entry ?? []).toHaveLength(0);
      }
      expect(JSON.stringify(byRequest((await auditSearch(`patient=${own}&_count=1000`, token)).body.entry).entity)).not.toContain(`Patient/${other}`);
    }
  });

  it('with user/AuditEvent.rs too, what the user did is shown whole and the rest as the patient’s own events', async () => {
    const r = rid();
    const doctor = await tokenFor(s, 'dr.smith', 'openid fhirUser user/*.rs');
    await s.http.get('/fhir/Observation?patient=alice,bob').set('Authorization', `Bearer ${doctor}`).set('X-Request-Id', r);
    const admin2 = await tokenFor(s, 'admin', 'user/*.cruds');
    const r2 = rid();
    await s.http.get('/fhir/Condition?patient=alice,bob').set('Authorization', `Bearer ${admin2}`).set('X-Request-Id', r2);
    const both = await tokenFor(s, 'dr.smith', 'openid fhirUser launch/patient patient/AuditEvent.rs user/AuditEvent.rs', 'alice');
    const events = ((await auditSearch('_count=1000', both)).body.entry ?? []).map((x: any) => x.resource as AuditEvent);
    const own = events.find((e: AuditEvent) => JSON.stringify(e).includes(r))!;
    const others = events.find((e: AuditEvent) => JSON.stringify(e).includes(r2))!;
    const patientsOf = (e: AuditEvent) => (e.entity ?? []).filter((x) => x.role?.code === '1').map((x) => x.what?.reference).sort();
    expect(patientsOf(own)).toEqual(['Patient/alice', 'Patient/bob']);
    expect(patientsOf(others)).toEqual(['Patient/alice']);
    const byBob = ((await auditSearch('patient=bob&_count=1000', both)).body.entry ?? []).map((x: any) => JSON.stringify(x.resource));
    expect(byBob.some((e: string) => e.includes(r))).toBe(true);
    expect(byBob.some((e: string) => e.includes(r2))).toBe(false);
  });
});

import { decodeJwt } from '../../src/auth/jose';
import { FHIR_JSON } from '../helpers/test-app';
import { authorizeThroughPages, backendToken, cookieOf, formFields, pkce, SmartApp, startSmartApp, userToken } from './smart-helpers';

const ALICE = { username: 'alice', password: 'alice pw' };
const DR = { username: 'dr.smith', password: 'correct horse' };

/**
 * Authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636, SMART App
 * Launch 2.0 §"Standalone launch" / §"EHR launch") through the server's
 * login, patient picker and consent pages, and every way it must fail.
 */
describe('authorization code flow', () => {
  let s: SmartApp;
  beforeAll(async () => {
    s = await startSmartApp();
    const admin = (await backendToken(s, 'system/*.cruds', 'ec-backend')).body.access_token;
    for (const p of [
      { resourceType: 'Patient', id: 'alice', name: [{ family: 'Alison', given: ['Alice'] }] },
      { resourceType: 'Patient', id: 'bob', name: [{ family: 'Roberts', given: ['Bob'] }] },
      { resourceType: 'Encounter', id: 'enc-1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/bob' } },
      { resourceType: 'Encounter', id: 'enc-a', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/alice' } },
    ]) {
      await s.http.put(`/fhir/${p.resourceType}/${p.id}`).set('Authorization', `Bearer ${admin}`).set('Content-Type', FHIR_JSON).send(p);
    }
  });
  afterAll(async () => s?.close());

  const tokenRequest = (fields: Record<string, string>) => s.http.post('/auth/token').type('form').send(fields);

  it('standalone launch as a patient: own record in context, id_token with fhirUser, refresh token', async () => {
    const res = await userToken(s, { ...ALICE, scope: 'launch/patient openid fhirUser offline_access patient/*.rs' });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.pragma).toBe('no-cache');
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, patient: 'alice' });
    expect(res.body.scope.split(' ').sort()).toEqual(['fhirUser', 'launch/patient', 'offline_access', 'openid', 'patient/*.rs']);
    expect(typeof res.body.refresh_token).toBe('string');
    const id = decodeJwt(res.body.id_token);
    expect(id).toMatchObject({ iss: s.config.publicUrl, aud: 'demo-app', sub: 'alice', fhirUser: `${s.baseUrl}/Patient/alice` });
    const at = decodeJwt(res.body.access_token);
    expect(at).toMatchObject({ iss: s.config.publicUrl, aud: s.baseUrl, patient: 'alice', client_id: 'demo-app' });
    const read = await s.http.get('/fhir/Patient/alice').set('Authorization', `Bearer ${res.body.access_token}`);
    expect(read.status).toBe(200);
  });

  it('standalone launch as a practitioner: the picker lists patients by name and the pick becomes the context', async () => {
    const start = await s.http.get('/auth/authorize').query({
      response_type: 'code',
      client_id: 'demo-app',
      redirect_uri: 'http://localhost:9000/callback',
      scope: 'launch/patient patient/*.rs',
      state: 's1',
      aud: s.baseUrl,
      ...(({ challenge }) => ({ code_challenge: challenge, code_challenge_method: 'S256' }))(pkce()),
    });
    const cookie = cookieOf(start)!;
    const picker = await s.http.post('/auth/login').set('Cookie', cookie).type('form').send({ ...formFields(start.text), ...DR });
    expect(picker.text).toContain('Select a patient');
    expect(picker.text).toMatch(/<input name="name"/);
    expect(picker.text).toContain('Alice Alison');
    expect(picker.text).toContain('Bob Roberts');
    const filtered = await s.http.post('/auth/patient').set('Cookie', cookie).type('form').send({ ...formFields(picker.text), name: 'Roberts' });
    expect(filtered.text).toContain('Bob Roberts');
    expect(filtered.text).not.toContain('Alice Alison');
    const r = await userToken(s, { ...DR, scope: 'launch/patient openid fhirUser patient/*.rs', pick: 'bob' });
    expect(r.body.patient).toBe('bob');
    expect(decodeJwt(r.body.id_token).fhirUser).toBe(`${s.baseUrl}/Practitioner/dr-smith`);
  });

  it('a confidential client (client_secret_basic) redeems its code with its secret; user/ scopes act for the practitioner', async () => {
    const o = { ...DR, clientId: 'lab-portal', redirectUri: 'http://localhost:9001/cb', scope: 'openid fhirUser user/*.rs system/*.rs' };
    const res = await userToken(s, { ...o, secret: 's3cret' });
    expect(res.status).toBe(200);
    // openid/fhirUser are not registered for this client: granted fewer than asked, no id_token
    expect(res.body.scope).toBe('user/*.rs');
    expect(res.body.id_token).toBeUndefined();
    expect(res.body.patient).toBeUndefined();
    expect((await s.http.get('/fhir/Patient/bob').set('Authorization', `Bearer ${res.body.access_token}`)).status).toBe(200);
    const wrong = await userToken(s, { ...o, secret: 'wrong' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
  });

  it('consent page lists the scopes in plain words with Allow and Deny; Deny redirects with access_denied', async () => {
    const r = await authorizeThroughPages(s, { ...ALICE, scope: 'patient/Observation.rs openid', decision: 'deny' });
    expect(r.consent!.text).toContain('Read and search Observation records about the selected patient');
    expect(r.consent!.text).toMatch(/<button type="submit" name="decision" value="allow">Allow<\/button>/);
    expect(r.consent!.text).toMatch(/>Deny<\/button>/);
    expect(r.done!.status).toBe(303);
    expect(r.location!.origin + r.location!.pathname).toBe('http://localhost:9000/callback');
    expect(r.location!.searchParams.get('error')).toBe('access_denied');
    expect(r.location!.searchParams.get('state')).toBe(r.state);
    expect(r.code).toBeUndefined();
  });

  it('the login page has username, password and Sign in; bad credentials stay on it', async () => {
    const r = await authorizeThroughPages(s, { username: 'alice', password: 'wrong', scope: 'patient/*.rs' });
    expect(r.page!.status).toBe(401);
    expect(r.page!.text).toContain('Invalid username or password');
    expect(r.page!.text).toMatch(/<input name="username"/);
    expect(r.page!.text).toMatch(/<input name="password" type="password"/);
    expect(r.page!.text).toMatch(/<button type="submit">Sign in<\/button>/);
  });

  it('codes are single-use: a second redemption fails and revokes the tokens of the first', async () => {
    const r = await authorizeThroughPages(s, { ...ALICE, scope: 'patient/*.rs offline_access' });
    const body = { grant_type: 'authorization_code', code: r.code!, redirect_uri: r.redirectUri, code_verifier: r.verifier, client_id: 'demo-app' };
    const first = await tokenRequest(body);
    expect(first.status).toBe(200);
    const again = await tokenRequest(body);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
    const read = await s.http.get('/fhir/Patient/alice').set('Authorization', `Bearer ${first.body.access_token}`);
    expect(read.status).toBe(401);
    const refresh = await tokenRequest({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: 'demo-app' });
    expect(refresh.body.error).toBe('invalid_grant');
  });

  it.each([
    ['a bad code', { code: 'not-a-code' }],
    ['a wrong code_verifier', { code_verifier: 'x'.repeat(43) }],
    ['no code_verifier', { code_verifier: undefined }],
    ['a wrong redirect_uri', { redirect_uri: 'http://localhost:9000/other' }],
    ['another client', { client_id: 'lab-portal' }],
  ])('the token endpoint refuses %s', async (_name, change) => {
    const r = await authorizeThroughPages(s, { ...ALICE, scope: 'patient/*.rs' });
    const body: Record<string, string | undefined> = {
      grant_type: 'authorization_code',
      code: r.code!,
      redirect_uri: r.redirectUri,
      code_verifier: r.verifier,
      client_id: 'demo-app',
      ...change,
    };
    const res = await tokenRequest(Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as Record<string, string>);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(['invalid_grant', 'invalid_client']).toContain(res.body.error);
    expect(res.body.access_token).toBeUndefined();
  });

  it('codes expire within 60 seconds', async () => {
    const r = await authorizeThroughPages(s, { ...ALICE, scope: 'patient/*.rs' });
    const { rows } = await s.db.query(`SELECT extract(epoch from expires_at - now()) AS left FROM auth_code ORDER BY expires_at DESC LIMIT 1`);
    expect(Number(rows[0].left)).toBeLessThanOrEqual(60);
    await s.db.query(`UPDATE auth_code SET expires_at = now() - interval '1 second'`);
    const res = await tokenRequest({ grant_type: 'authorization_code', code: r.code!, redirect_uri: r.redirectUri, code_verifier: r.verifier, client_id: 'demo-app' });
    expect(res.body.error).toBe('invalid_grant');
  });

  it('authorize: an unknown client or unregistered redirect_uri is an error page, never a redirect', async () => {
    const base = { response_type: 'code', scope: 'patient/*.rs', state: 'x', aud: s.baseUrl, code_challenge: pkce().challenge, code_challenge_method: 'S256' };
    const unknown = await s.http.get('/auth/authorize').query({ ...base, client_id: 'nope', redirect_uri: 'http://localhost:9000/callback' });
    expect(unknown.status).toBe(400);
    expect(unknown.headers.location).toBeUndefined();
    const evil = await s.http.get('/auth/authorize').query({ ...base, client_id: 'demo-app', redirect_uri: 'https://evil.example/cb' });
    expect(evil.status).toBe(400);
    expect(evil.headers.location).toBeUndefined();
    const prefix = await s.http.get('/auth/authorize').query({ ...base, client_id: 'demo-app', redirect_uri: 'http://localhost:9000/callback/x' });
    expect(prefix.status).toBe(400);
  });

  it.each([
    ['aud is not this server', { aud: 'https://other.example/fhir' }, 'invalid_request'],
    ['no PKCE for a public client', { code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
    ['the plain PKCE method', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
    ['no state', { state: undefined }, 'invalid_request'],
    ['an unknown launch', { launch: 'nope', scope: 'launch patient/*.rs' }, 'invalid_request'],
    // RFC 6749 §3.3: no default scope here, so a request with nothing grantable fails with invalid_scope
    ['an empty scope', { scope: '' }, 'invalid_scope'],
    ['no scope', { scope: undefined }, 'invalid_scope'],
    ['only unknown scopes', { scope: 'foo/bar' }, 'invalid_scope'],
    ['system/ scopes in a user-facing flow', { scope: 'system/*.rs' }, 'invalid_scope'],
  ])('authorize redirects with an error for %s', async (_name, change, error) => {
    const q: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: 'demo-app',
      redirect_uri: 'http://localhost:9000/callback',
      scope: 'patient/*.rs',
      state: 'st',
      aud: s.baseUrl,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      ...change,
    };
    const res = await s.http.get('/auth/authorize').query(Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)));
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.location);
    expect(loc.searchParams.get('error')).toBe(error);
    if (q.state) expect(loc.searchParams.get('state')).toBe('st');
  });

  it('PKCE (S256) is required of confidential clients too (SMART App Launch 2.x §"Considerations for PKCE Support")', async () => {
    const q = { response_type: 'code', client_id: 'lab-portal', redirect_uri: 'http://localhost:9001/cb', scope: 'user/*.rs', state: 'st', aud: s.baseUrl };
    const noPkce = await s.http.get('/auth/authorize').query(q);
    expect(noPkce.status).toBe(302);
    expect(new URL(noPkce.headers.location).searchParams.get('error')).toBe('invalid_request');
    expect(new URL(noPkce.headers.location).searchParams.get('state')).toBe('st');
    // "the EHR SHALL ensure that the code_verifier is present and valid": a confidential client's secret is not enough
    const r = await authorizeThroughPages(s, { ...DR, clientId: 'lab-portal', redirectUri: 'http://localhost:9001/cb', scope: 'user/*.rs' });
    const exchange = (extra: Record<string, string>) =>
      s.http.post('/auth/token').auth('lab-portal', 's3cret').type('form').send({ grant_type: 'authorization_code', code: r.code!, redirect_uri: r.redirectUri, ...extra });
    expect((await exchange({})).body.error).toBe('invalid_grant');
    const r2 = await userToken(s, { ...DR, clientId: 'lab-portal', redirectUri: 'http://localhost:9001/cb', scope: 'user/*.rs', secret: 's3cret' });
    expect([r2.status, r2.body.scope]).toEqual([200, 'user/*.rs']);
  });

  it('nothing grantable once the user is known (patient/ scopes, practitioner, no launch/patient): invalid_scope, no consent page', async () => {
    const r = await authorizeThroughPages(s, { ...DR, scope: 'patient/*.rs' });
    expect((r as any).page.status).toBe(303);
    const loc = new URL((r as any).page.headers.location);
    expect([loc.searchParams.get('error'), loc.searchParams.get('state')]).toEqual(['invalid_scope', r.state]);
  });

  it('a granular scope naming an unknown search parameter is not granted (it could never be applied); known ones are', async () => {
    const r = await userToken(s, { ...ALICE, scope: 'launch/patient patient/Observation.rs?x=y patient/Condition.rs?clinical-status=active patient/Patient.r' });
    expect(r.status).toBe(200);
    expect(r.body.scope.split(' ').sort()).toEqual(['launch/patient', 'patient/Condition.rs?clinical-status=active', 'patient/Patient.r']);
    const backend = await backendToken(s, 'system/Observation.rs?nope=1 system/Observation.rs?category=laboratory', 'ec-backend');
    expect(backend.body.scope).toBe('system/Observation.rs?category=laboratory');
  });

  it('authorize by POST (authorize-post) works like GET', async () => {
    const res = await s.http.post('/auth/authorize').type('form').send({
      response_type: 'code',
      client_id: 'demo-app',
      redirect_uri: 'http://localhost:9000/callback',
      scope: 'patient/*.rs',
      state: 'st',
      aud: s.baseUrl,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });
    expect(res.status).toBe(200);
    expect(res.text).toContain('Sign in');
  });

  it('CSRF: a form without the browser cookie or with a wrong csrf_token is refused', async () => {
    const start = await s.http.get('/auth/authorize').query({
      response_type: 'code',
      client_id: 'demo-app',
      redirect_uri: 'http://localhost:9000/callback',
      scope: 'patient/*.rs',
      state: 'st',
      aud: s.baseUrl,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });
    expect(start.headers['x-frame-options']).toBe('DENY');
    expect(start.headers['set-cookie'][0]).toMatch(/HttpOnly; SameSite=Lax/);
    const fields = formFields(start.text);
    const noCookie = await s.http.post('/auth/login').type('form').send({ ...fields, ...ALICE });
    expect(noCookie.status).toBe(403);
    const badToken = await s.http.post('/auth/login').set('Cookie', cookieOf(start)!).type('form').send({ ...fields, csrf_token: 'x', ...ALICE });
    expect(badToken.status).toBe(403);
    const otherBrowser = await s.http.post('/auth/login').set('Cookie', 'smart_authz=' + 'A'.repeat(43)).type('form').send({ ...fields, ...ALICE });
    expect(otherBrowser.status).toBe(403);
  });

  it('refresh tokens rotate on use; a rotated one replayed ends the grant', async () => {
    const first = await userToken(s, { ...ALICE, scope: 'patient/*.rs offline_access' });
    const r1 = await tokenRequest({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: 'demo-app' });
    expect(r1.status).toBe(200);
    expect(r1.body.refresh_token).not.toBe(first.body.refresh_token);
    expect(r1.body.patient).toBe('alice');
    const narrowed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: r1.body.refresh_token, client_id: 'demo-app', scope: 'patient/*.rs' });
    expect(narrowed.status).toBe(200);
    expect(narrowed.body.scope).toBe('patient/*.rs');
    const replay = await tokenRequest({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: 'demo-app' });
    expect(replay.body.error).toBe('invalid_grant');
    // the whole grant is gone: the newest refresh token and the access tokens too
    const latest = await tokenRequest({ grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, client_id: 'demo-app' });
    expect(latest.body.error).toBe('invalid_grant');
    expect((await s.http.get('/fhir/Patient/alice').set('Authorization', `Bearer ${narrowed.body.access_token}`)).status).toBe(401);
  });

  it('refresh tokens are stored hashed', async () => {
    const t = await userToken(s, { ...ALICE, scope: 'patient/*.rs offline_access' });
    const { rows } = await s.db.query('SELECT token_hash FROM auth_refresh_token');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.token_hash)).not.toContain(t.body.refresh_token);
  });

  it('a patient user cannot open another patient through an EHR launch', async () => {
    const sys = (await backendToken(s, 'system/*.rs')).body.access_token;
    const launch = await s.http.post('/auth/launch').set('Authorization', `Bearer ${sys}`).send({ patient: 'bob' });
    expect(launch.status).toBe(201);
    const r = await authorizeThroughPages(s, { ...ALICE, scope: 'launch patient/*.rs', launch: launch.body.launch });
    expect((r as any).page.status).toBe(303);
    expect(new URL((r as any).page.headers.location).searchParams.get('error')).toBe('access_denied');
  });

  it('EHR launch: the launch context gives the patient (and an encounter of that patient only); no picker', async () => {
    const sys = (await backendToken(s, 'system/*.rs')).body.access_token;
    // the launch context must be coherent: an encounter of another patient, or none at all, is refused
    for (const encounter of ['enc-a', 'no-such-encounter', 'bad id!']) {
      const bad = await s.http.post('/auth/launch').set('Authorization', `Bearer ${sys}`).send({ patient: 'bob', encounter });
      expect({ encounter, status: bad.status, error: bad.body.error }).toEqual({ encounter, status: 400, error: 'invalid_request' });
    }
    const launch = await s.http.post('/auth/launch').set('Authorization', `Bearer ${sys}`).send({ patient: 'bob', encounter: 'enc-1' });
    expect(launch.status).toBe(201);
    const r = await userToken(s, { ...DR, scope: 'launch openid fhirUser patient/*.rs', launch: launch.body.launch });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ patient: 'bob', encounter: 'enc-1' });
    expect(r.body.scope.split(' ')).toContain('launch');
  });
});

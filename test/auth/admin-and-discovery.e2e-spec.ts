import * as fs from 'fs';
import request from 'supertest';
import { SeedService } from '../../src/auth/seed.service';
import { FHIR_JSON } from '../helpers/test-app';
import { backendToken, SmartApp, startSmartApp, userToken } from './smart-helpers';

/**
 * Discovery (SMART App Launch 2.0 §"Conformance", OIDC Discovery), the
 * public endpoints, CORS, dynamic client registration (RFC 7591), EHR launch
 * contexts and SEED_FILE (docs/interface.md).
 */
describe('discovery, registration, launch, seed', () => {
  let s: SmartApp;
  beforeAll(async () => {
    s = await startSmartApp();
  });
  afterAll(async () => s?.close());

  it('smart-configuration announces every endpoint, PKCE S256 and the capabilities', async () => {
    const res = await s.http.get('/fhir/.well-known/smart-configuration');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    const c = res.body;
    const auth = `${s.config.publicUrl}/auth`;
    expect(c).toMatchObject({
      issuer: s.config.publicUrl,
      jwks_uri: `${auth}/jwks`,
      authorization_endpoint: `${auth}/authorize`,
      token_endpoint: `${auth}/token`,
      introspection_endpoint: `${auth}/introspect`,
      revocation_endpoint: `${auth}/revoke`,
      registration_endpoint: `${auth}/register`,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
    });
    expect(c.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(c.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
    for (const cap of [
      'launch-ehr', 'launch-standalone', 'client-public', 'client-confidential-symmetric', 'client-confidential-asymmetric',
      'context-ehr-patient', 'context-standalone-patient', 'permission-offline', 'permission-online', 'permission-patient',
      'permission-user', 'permission-v1', 'permission-v2', 'sso-openid-connect', 'authorize-post',
    ]) {
      expect(c.capabilities).toContain(cap);
    }
    // context-ehr-encounter is advertised, so its scope is listed too (SMART App Launch §"scopes_supported")
    expect(c.scopes_supported).toEqual(expect.arrayContaining(['openid', 'fhirUser', 'launch/patient', 'launch/encounter', 'offline_access', 'patient/*.rs']));
  });

  it('OIDC discovery and the CapabilityStatement oauth-uris extension agree with it', async () => {
    const smart = (await s.http.get('/fhir/.well-known/smart-configuration')).body;
    const oidc = await s.http.get('/.well-known/openid-configuration');
    expect(oidc.status).toBe(200);
    expect(oidc.body).toMatchObject({ issuer: smart.issuer, jwks_uri: smart.jwks_uri, token_endpoint: smart.token_endpoint, authorization_endpoint: smart.authorization_endpoint });
    expect(oidc.body.id_token_signing_alg_values_supported).toEqual(['RS256']);
    const cs = await s.http.get('/fhir/metadata');
    expect(cs.status).toBe(200);
    const sec = cs.body.rest[0].security;
    expect(sec.service[0].coding[0].code).toBe('SMART-on-FHIR');
    const ext = sec.extension.find((e: any) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
    const uri = (name: string) => ext.extension.find((e: any) => e.url === name)?.valueUri;
    expect(uri('authorize')).toBe(smart.authorization_endpoint);
    expect(uri('token')).toBe(smart.token_endpoint);
    expect(uri('introspect')).toBe(smart.introspection_endpoint);
    expect(uri('revoke')).toBe(smart.revocation_endpoint);
    expect(uri('register')).toBe(smart.registration_endpoint);
  });

  it('discovery, metadata, JWKS and health are public; CORS lets browser apps call the API', async () => {
    for (const url of ['/fhir/metadata', '/fhir/.well-known/smart-configuration', '/.well-known/openid-configuration', '/auth/jwks', '/healthz', '/readyz']) {
      expect({ url, status: (await s.http.get(url)).status }).toEqual({ url, status: 200 });
    }
    const preflight = await s.http
      .options('/fhir/Patient/123')
      .set('Origin', 'https://app.example')
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'authorization');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['access-control-allow-headers']).toMatch(/authorization/i);
    // errors answered before any route (content negotiation 406/415, body parsing 400/413) carry CORS too,
    // or a browser app could not read the OperationOutcome (Fetch standard: CORS check on every response)
    const early: [string, request.Test][] = [
      ['406', s.http.get('/fhir/Patient/123').set('Accept', 'application/fhir+xml')],
      ['415', s.http.post('/fhir/Patient').set('Content-Type', 'application/xml').send('<Patient/>')],
      ['400 malformed JSON', s.http.post('/fhir/Patient').set('Content-Type', 'application/fhir+json').send('{"resourceType":')],
      ['413', s.http.post('/fhir/Patient').set('Content-Type', 'application/fhir+json').send(JSON.stringify({ resourceType: 'Patient', text: { div: 'x'.repeat(s.config.maxBodyBytes + 10) } }))],
    ];
    for (const [what, req] of early) {
      const res = await req.set('Origin', 'https://app.example');
      expect({ what, status: res.status, cors: res.headers['access-control-allow-origin'], type: res.body.resourceType }).toEqual({
        what,
        status: Number(what.slice(0, 3)),
        cors: '*',
        type: 'OperationOutcome',
      });
    }
    const tokenCors = await s.http.post('/auth/token').set('Origin', 'https://app.example').type('form').send({});
    expect(tokenCors.headers['access-control-allow-origin']).toBe('*');
    const page = await s.http.get('/auth/authorize').set('Origin', 'https://app.example');
    expect(page.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('dynamic client registration (RFC 7591) is for admin tokens (role + user/*.cruds); the new client can get tokens', async () => {
    const admin = (await userToken(s, { username: 'admin', password: 'admin pw', scope: 'user/*.cruds' })).body.access_token;
    const adminReadOnly = (await userToken(s, { username: 'admin', password: 'admin pw', scope: 'user/*.rs' })).body.access_token;
    const user = (await userToken(s, { username: 'dr.smith', password: 'correct horse', scope: 'user/*.rs' })).body.access_token;
    const metadata = { client_name: 'Registered', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'system/Patient.rs' };
    expect((await s.http.post('/auth/register').send(metadata)).status).toBe(401);
    expect((await s.http.post('/auth/register').set('Authorization', `Bearer ${user}`).send(metadata)).status).toBe(403);
    expect((await s.http.post('/auth/register').set('Authorization', `Bearer ${adminReadOnly}`).send(metadata)).status).toBe(403);
    const reg = await s.http.post('/auth/register').set('Authorization', `Bearer ${admin}`).send(metadata);
    expect(reg.status).toBe(201);
    expect(reg.body).toMatchObject({ client_name: 'Registered', token_endpoint_auth_method: 'client_secret_basic', client_secret_expires_at: 0 });
    expect(typeof reg.body.client_id).toBe('string');
    expect(typeof reg.body.client_secret).toBe('string');
    const tok = await s.http.post('/auth/token').auth(reg.body.client_id, reg.body.client_secret).type('form').send({ grant_type: 'client_credentials' });
    expect(tok.status).toBe(200);
    expect(tok.body.scope).toBe('system/Patient.rs');
    const bad = await s.http.post('/auth/register').set('Authorization', `Bearer ${admin}`).send({ grant_types: ['authorization_code'], redirect_uris: ['not a url'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_redirect_uri');
    const noKeys = await s.http.post('/auth/register').set('Authorization', `Bearer ${admin}`).send({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt' });
    expect(noKeys.body.error).toBe('invalid_client_metadata');
    // a NUL (which the database cannot store) or another control character is the client's error, not a 500
    const nul = await s.http.post('/auth/register').set('Authorization', `Bearer ${admin}`).send({ ...metadata, client_name: 'a\u0000b' });
    expect([nul.status, nul.body.error]).toEqual([400, 'invalid_client_metadata']);
  });

  it('OAuth parameters holding control characters are invalid_request before any lookup (RFC 6749 Appendix A)', async () => {
    const token = await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'a\u0000' });
    expect([token.status, token.body.error]).toEqual([400, 'invalid_request']);
    const introspect = await s.http.post('/auth/introspect').type('form').send({ token: 'x\u0001' });
    expect([introspect.status, introspect.body.error]).toEqual([400, 'invalid_request']);
    const page = await s.http.get('/auth/authorize?response_type=code&client_id=%00&state=1');
    expect(page.status).toBe(400);
    expect(page.text).toContain('holds a control character');
  });

  it('EHR launch contexts need a token that may read every patient, and an existing patient', async () => {
    const system = (await backendToken(s, 'system/*.cruds', 'ec-backend')).body.access_token;
    const created = await s.http.put('/fhir/Patient/p1').set('Authorization', `Bearer ${system}`).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', id: 'p1' });
    expect(created.status).toBeLessThan(300);
    expect((await s.http.post('/auth/launch').send({ patient: 'p1' })).status).toBe(401);
    const patientToken = (await userToken(s, { username: 'alice', password: 'alice pw', scope: 'patient/*.rs' })).body.access_token;
    expect((await s.http.post('/auth/launch').set('Authorization', `Bearer ${patientToken}`).send({ patient: 'p1' })).status).toBe(403);
    expect((await s.http.post('/auth/launch').set('Authorization', `Bearer ${system}`).send({ patient: 'nope' })).status).toBe(400);
    expect((await s.http.post('/auth/launch').set('Authorization', `Bearer ${system}`).send({ patient: 'p\u0000' })).status).toBe(400);
    const ok = await s.http.post('/auth/launch').set('Authorization', `Bearer ${system}`).send({ patient: 'p1' });
    expect(ok.status).toBe(201);
    expect(ok.body.expires_in).toBeGreaterThan(0);
  });

  it('SEED_FILE is idempotent and stores only hashes', async () => {
    const seed = s.app.get(SeedService);
    const again = await seed.seed(s.seedFile);
    expect(again).toEqual({ clients: 0, users: 0 });
    const { rows } = await s.db.query(`SELECT password_hash FROM auth_user WHERE username = 'alice'`);
    expect(rows[0].password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(rows[0].password_hash).not.toContain('alice pw');
    // a changed password is picked up on the next start
    const doc = JSON.parse(fs.readFileSync(s.seedFile, 'utf8'));
    doc.users.find((u: any) => u.username === 'alice').password = 'new pw';
    fs.writeFileSync(s.seedFile, JSON.stringify(doc));
    expect(await seed.seed(s.seedFile)).toEqual({ clients: 0, users: 1 });
    expect((await userToken(s, { username: 'alice', password: 'new pw', scope: 'patient/*.rs' })).status).toBe(200);
  });

  it('a bad SEED_FILE is refused with one line naming SEED_FILE and the entry (start-up stops on it)', async () => {
    const bad = `${s.seedFile}.bad.json`;
    const seed = s.app.get(SeedService);
    try {
      fs.writeFileSync(bad, JSON.stringify({ clients: [{ client_id: 'x', grant_types: ['authorization_code'], token_endpoint_auth_method: 'none' }] }));
      await expect(seed.seed(bad)).rejects.toThrow(/^SEED_FILE clients\[0\]: redirect_uris are required/);
      fs.writeFileSync(bad, JSON.stringify({ users: [{ username: 'u' }] }));
      await expect(seed.seed(bad)).rejects.toThrow(/^SEED_FILE users\[0\]: password is required$/);
      fs.writeFileSync(bad, '{ not json');
      await expect(seed.seed(bad)).rejects.toThrow(/^SEED_FILE .* cannot be read as JSON/);
    } finally {
      fs.rmSync(bad, { force: true });
    }
  });
});

import * as http from 'http';
import { AddressInfo } from 'net';
import { randomUUID } from 'crypto';
import { exportJWK, generateKeyPair, SignJWT } from '../../src/auth/jose';
import { ClientRepository } from '../../src/auth/client.repository';
import { backendToken, clientAssertion, SmartApp, startSmartApp } from './smart-helpers';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * SMART Backend Services (client_credentials with private_key_jwt, RFC 7523
 * with SMART's rules: RS384/ES384, exp ≤ 5 minutes, jti never reused, aud =
 * token endpoint) and client_secret_basic / client_secret_post.
 */
describe('backend services (client_credentials)', () => {
  let s: SmartApp;
  beforeAll(async () => {
    s = await startSmartApp({ AUTH_LOCKOUT_THRESHOLD: '3' });
  });
  afterAll(async () => s?.close());

  const withAssertion = (assertion: string, scope = 'system/*.rs') =>
    s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', scope, client_assertion_type: JWT_BEARER, client_assertion: assertion });

  it('RS384 and ES384 assertions get system tokens that read the FHIR API', async () => {
    for (const client of ['ehr-sync', 'ec-backend']) {
      const res = await backendToken(s, 'system/Patient.rs', client);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'system/Patient.rs', expires_in: 3600 });
      expect(res.body.refresh_token).toBeUndefined();
      const search = await s.http.get('/fhir/Patient').set('Authorization', `Bearer ${res.body.access_token}`);
      expect(search.status).toBe(200);
    }
  });

  it('grants only registered system scopes; fewer than asked when asked for more', async () => {
    const res = await backendToken(s, 'system/Patient.cruds system/Observation.cruds patient/*.rs');
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/Patient.cruds');
    const none = await backendToken(s, 'system/Observation.c');
    expect(none.status).toBe(400);
    expect(none.body.error).toBe('invalid_scope');
  });

  it('refuses a bad signature (signed with another key)', async () => {
    const { privateKey } = await generateKeyPair('RS384');
    const res = await withAssertion(await clientAssertion(privateKey, { clientId: 'ehr-sync', aud: s.tokenUrl }));
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('refuses an expired assertion and one living longer than 5 minutes', async () => {
    const key = s.keys.rs384.privateKey;
    const expired = await withAssertion(await clientAssertion(key, { clientId: 'ehr-sync', aud: s.tokenUrl, exp: Math.floor(Date.now() / 1000) - 10 }));
    expect(expired.status).toBe(401);
    expect(expired.body.error_description).toMatch(/expired/);
    const long = await withAssertion(await clientAssertion(key, { clientId: 'ehr-sync', aud: s.tokenUrl, expiresIn: 600 }));
    expect(long.status).toBe(401);
    expect(long.body.error_description).toMatch(/5 minutes/);
  });

  it('refuses a replayed jti', async () => {
    const a = await clientAssertion(s.keys.rs384.privateKey, { clientId: 'ehr-sync', aud: s.tokenUrl, jti: randomUUID() });
    expect((await withAssertion(a)).status).toBe(200);
    const replay = await withAssertion(a);
    expect(replay.status).toBe(401);
    expect(replay.body.error_description).toMatch(/jti/);
  });

  it('refuses a wrong aud, a wrong iss/sub, the wrong algorithm family and an unknown client', async () => {
    const key = s.keys.rs384.privateKey;
    const aud = await withAssertion(await clientAssertion(key, { clientId: 'ehr-sync', aud: `${s.baseUrl}` }));
    expect(aud.status).toBe(401);
    expect(aud.body.error_description).toMatch(/aud/);
    const other = await withAssertion(await clientAssertion(key, { clientId: 'ec-backend', aud: s.tokenUrl }));
    expect(other.status).toBe(401);
    const unknown = await withAssertion(await clientAssertion(key, { clientId: 'nobody', aud: s.tokenUrl }));
    expect(unknown.status).toBe(401);
    const { privateKey: rs256 } = await generateKeyPair('RS256');
    const rs256Assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer('ehr-sync')
      .setSubject('ehr-sync')
      .setAudience(s.tokenUrl)
      .setJti(randomUUID())
      .setExpirationTime('2m')
      .sign(rs256);
    const alg = await withAssertion(rs256Assertion);
    expect(alg.status).toBe(401);
    const wrongType = await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_assertion_type: 'x', client_assertion: 'y' });
    expect(wrongType.status).toBe(401);
  });

  it('keys can come from a jwks_uri', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES384');
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'remote-1', alg: 'ES384' }] };
    const server = http.createServer((_req, res) => res.setHeader('Content-Type', 'application/json').end(JSON.stringify(jwks)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
      await s.app.get(ClientRepository).upsertClient({
        clientId: 'remote-keys',
        grantTypes: ['client_credentials'],
        authMethod: 'private_key_jwt',
        redirectUris: [],
        scope: 'system/Patient.rs',
        jwksUri: uri,
        source: 'seed',
      });
      const res = await withAssertion(
        await clientAssertion(privateKey, { clientId: 'remote-keys', aud: s.tokenUrl, alg: 'ES384', kid: 'remote-1' }),
        'system/Patient.rs',
      );
      expect(res.status).toBe(200);
    } finally {
      server.close();
    }
  });

  it('one authentication method per request (RFC 6749 §2.3): an assertion plus a client_secret is invalid_request', async () => {
    const assertion = await clientAssertion(s.keys.rs384.privateKey, { clientId: 'ehr-sync', aud: s.tokenUrl });
    const both = await s.http.post('/auth/token').type('form').send({
      grant_type: 'client_credentials', scope: 'system/*.rs', client_assertion_type: JWT_BEARER, client_assertion: assertion, client_id: 'ehr-sync', client_secret: 'x',
    });
    expect([both.status, both.body.error]).toEqual([400, 'invalid_request']);
    const basicAndAssertion = await s.http.post('/auth/token').auth('lab-portal', 's3cret').type('form').send({
      grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: assertion,
    });
    expect([basicAndAssertion.status, basicAndAssertion.body.error]).toEqual([400, 'invalid_request']);
    // refused before the assertion was looked at: its jti is still unused
    expect((await withAssertion(assertion)).status).toBe(200);
  });

  it('client_secret_basic and client_secret_post authenticate confidential clients', async () => {
    const basic = await s.http.post('/auth/token').auth('lab-portal', 's3cret').type('form').send({ grant_type: 'client_credentials', scope: 'system/*.rs' });
    expect(basic.status).toBe(200);
    expect(basic.body.scope).toBe('system/*.rs');
    const post = await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'post-client', client_secret: 'p0st' });
    expect(post.status).toBe(200);
    expect(post.body.scope).toBe('system/Observation.rs');
    // the registered method must be used
    const mismatch = await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'lab-portal', client_secret: 's3cret' });
    expect(mismatch.status).toBe(401);
    const publicClient = await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'demo-app' });
    expect(publicClient.status).toBe(400);
    expect(publicClient.body.error).toBe('unauthorized_client');
  });

  it('a wrong secret is invalid_client with WWW-Authenticate; repeated failures lock the client out', async () => {
    const bad = await s.http.post('/auth/token').auth('post-client', 'nope').type('form').send({ grant_type: 'client_credentials' });
    expect(bad.status).toBe(401);
    expect(bad.body.error).toBe('invalid_client');
    expect(bad.headers['www-authenticate']).toMatch(/^Basic /);
    for (let i = 0; i < 3; i++) {
      await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'post-client', client_secret: 'nope' });
    }
    const locked = await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'post-client', client_secret: 'p0st' });
    expect(locked.status).toBe(401);
    expect(locked.body.error_description).toMatch(/too many/);
  });

  it('client secrets are stored as scrypt hashes', async () => {
    const { rows } = await s.db.query(`SELECT secret_hash FROM auth_client WHERE client_id = 'lab-portal'`);
    expect(rows[0].secret_hash).toMatch(/^scrypt\$/);
    expect(rows[0].secret_hash).not.toContain('s3cret');
  });
});

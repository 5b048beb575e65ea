import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { randomUUID } from 'crypto';
import { createApp } from '../../src/app';
import { generateKeyPair, importJWK, SignJWT } from '../../src/auth/jose';
import { Revocations } from '../../src/auth/revocations.service';
import { backendToken, SmartApp, startSmartApp, userToken } from './smart-helpers';

const ALICE = { username: 'alice', password: 'alice pw' };

/**
 * Access tokens as the resource server sees them (RFC 6750, RFC 9068
 * claims): signature, iss, aud, exp, revocation; introspection (RFC 7662),
 * revocation (RFC 7009), signing key rotation and JWKS.
 */
describe('access tokens, introspection, revocation, keys', () => {
  let s: SmartApp;
  beforeAll(async () => {
    s = await startSmartApp();
  });
  afterAll(async () => s?.close());

  /** A token signed with the server's own current key, with chosen claims. */
  async function forge(claims: Record<string, unknown>, opts: { exp?: number; iss?: string; aud?: string } = {}) {
    const { rows } = await s.db.query('SELECT kid, private_jwk FROM auth_signing_key WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1');
    const key = await importJWK(JSON.parse(rows[0].private_jwk), 'RS256');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: 'demo-app', scope: 'patient/*.rs', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: rows[0].kid, typ: 'at+jwt' })
      .setIssuer(opts.iss ?? s.config.publicUrl)
      .setAudience(opts.aud ?? s.baseUrl)
      .setSubject('alice')
      .setJti(randomUUID())
      .setIssuedAt(now - 120)
      .setExpirationTime(opts.exp ?? now + 300)
      .sign(key);
  }
  const read = (token: string) => s.http.get('/fhir/Patient').set('Authorization', `Bearer ${token}`);

  it('a well-formed token of this server is accepted (the forging helper is sound)', async () => {
    expect((await read(await forge({ patient: 'alice' }))).status).toBe(200);
  });

  it.each([
    ['expired', () => forge({ patient: 'alice' }, { exp: Math.floor(Date.now() / 1000) - 5 }), /expired/],
    ['for another audience', () => forge({ patient: 'alice' }, { aud: 'https://other.example/fhir' }), /aud/],
    ['from another issuer', () => forge({ patient: 'alice' }, { iss: 'https://other.example' }), /iss/],
    ['patient-scoped without a patient', () => forge({}), /patient context/],
  ])('refuses a token %s with 401 invalid_token', async (_n, make, why) => {
    const res = await read(await make());
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(res.body.issue[0].diagnostics).toMatch(why);
  });

  it('refuses a token signed with a key that is not the server’s', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const { rows } = await s.db.query('SELECT kid FROM auth_signing_key LIMIT 1');
    const token = await new SignJWT({ client_id: 'x', scope: 'system/*.rs' })
      .setProtectedHeader({ alg: 'RS256', kid: rows[0].kid, typ: 'at+jwt' })
      .setIssuer(s.config.publicUrl)
      .setAudience(s.baseUrl)
      .setSubject('x')
      .setJti(randomUUID())
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await read(token)).status).toBe(401);
  });

  it('introspection (RFC 7662): active with scope, client_id, patient, fhirUser, exp, iss, sub; inactive otherwise', async () => {
    const t = await userToken(s, { ...ALICE, scope: 'launch/patient patient/*.rs offline_access' });
    const res = await s.http.post('/auth/introspect').auth('rs-gateway', 'gw-s3cret').type('form').send({ token: t.body.access_token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      active: true,
      scope: t.body.scope,
      client_id: 'demo-app',
      patient: 'alice',
      fhirUser: 'Patient/alice',
      iss: s.config.publicUrl,
      sub: 'alice',
    });
    expect(res.body.exp).toBeGreaterThan(Date.now() / 1000);
    const refresh = await s.http.post('/auth/introspect').auth('rs-gateway', 'gw-s3cret').type('form').send({ token: t.body.refresh_token });
    expect(refresh.body).toMatchObject({ active: true, token_type: 'refresh_token', client_id: 'demo-app' });
    const junk = await s.http.post('/auth/introspect').auth('rs-gateway', 'gw-s3cret').type('form').send({ token: 'junk' });
    expect(junk.body).toEqual({ active: false });
    // the resource server may also introspect with a client_credentials token of its own (RFC 7662 §2.1)
    const sys = (await s.http.post('/auth/token').auth('rs-gateway', 'gw-s3cret').type('form').send({ grant_type: 'client_credentials' })).body.access_token;
    const asBearer = await s.http.post('/auth/introspect').set('Authorization', `Bearer ${sys}`).type('form').send({ token: t.body.access_token });
    expect(asBearer.body.active).toBe(true);
    // anonymous callers and public clients may not (who may introspect what: introspection.e2e-spec.ts)
    expect((await s.http.post('/auth/introspect').type('form').send({ token: t.body.access_token })).status).toBe(401);
    expect((await s.http.post('/auth/introspect').type('form').send({ token: t.body.access_token, client_id: 'demo-app' })).status).toBe(401);
  });

  it('revocation (RFC 7009) of an access token: refused at once, and inactive', async () => {
    const t = await userToken(s, { ...ALICE, scope: 'patient/*.rs' });
    expect((await read(t.body.access_token)).status).toBe(200);
    const rev = await s.http.post('/auth/revoke').type('form').send({ token: t.body.access_token, client_id: 'demo-app' });
    expect(rev.status).toBe(200);
    const after = await read(t.body.access_token);
    expect(after.status).toBe(401);
    expect(after.body.issue[0].diagnostics).toMatch(/revoked/);
    const intro = await s.http.post('/auth/introspect').auth('rs-gateway', 'gw-s3cret').type('form').send({ token: t.body.access_token });
    expect(intro.body.active).toBe(false);
  });

  it('revocation of a refresh token ends its grant: the refresh fails and its access tokens are refused', async () => {
    const t = await userToken(s, { ...ALICE, scope: 'patient/*.rs offline_access' });
    const rev = await s.http.post('/auth/revoke').type('form').send({ token: t.body.refresh_token, token_type_hint: 'refresh_token', client_id: 'demo-app' });
    expect(rev.status).toBe(200);
    const refresh = await s.http.post('/auth/token').type('form').send({ grant_type: 'refresh_token', refresh_token: t.body.refresh_token, client_id: 'demo-app' });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
    expect((await read(t.body.access_token)).status).toBe(401);
  });

  it('online_access (SMART App Launch scopes): the refresh token chain ends with the sign-in; offline_access is renewed', async () => {
    const introspect = async (token: string) =>
      (await s.http.post('/auth/introspect').auth('rs-gateway', 'gw-s3cret').type('form').send({ token })).body;
    const online = await userToken(s, { ...ALICE, scope: 'patient/*.rs online_access' });
    expect(online.body.refresh_token).toEqual(expect.any(String));
    const first = await introspect(online.body.refresh_token);
    expect(first.active).toBe(true);
    // ONLINE_ACCESS_TTL (default 12 h) after the sign-in, well before REFRESH_TOKEN_TTL (30 days)
    const now = Date.now() / 1000;
    expect(first.exp).toBeGreaterThan(now + 12 * 3600 - 60);
    expect(first.exp).toBeLessThanOrEqual(now + 12 * 3600 + 1);
    await new Promise((r) => setTimeout(r, 1100));
    const rotated = await s.http.post('/auth/token').type('form').send({ grant_type: 'refresh_token', refresh_token: online.body.refresh_token, client_id: 'demo-app' });
    expect(rotated.status).toBe(200);
    // rotation never extends an online session
    expect((await introspect(rotated.body.refresh_token)).exp).toBe(first.exp);

    const offline = await userToken(s, { ...ALICE, scope: 'patient/*.rs offline_access' });
    const o1 = await introspect(offline.body.refresh_token);
    expect(o1.exp).toBeGreaterThan(now + 29 * 24 * 3600);
    await new Promise((r) => setTimeout(r, 1100));
    const o2 = await s.http.post('/auth/token').type('form').send({ grant_type: 'refresh_token', refresh_token: offline.body.refresh_token, client_id: 'demo-app' });
    expect((await introspect(o2.body.refresh_token)).exp).toBeGreaterThan(o1.exp);
  });

  it('revocation answers 200 for unknown tokens and refuses tokens of other clients', async () => {
    expect((await s.http.post('/auth/revoke').type('form').send({ token: 'unknown', client_id: 'demo-app' })).status).toBe(200);
    const t = await userToken(s, { ...ALICE, scope: 'patient/*.rs' });
    const other = await s.http.post('/auth/revoke').auth('lab-portal', 's3cret').type('form').send({ token: t.body.access_token });
    expect(other.status).toBe(400);
    expect((await read(t.body.access_token)).status).toBe(200);
  });

  it('key rotation: new tokens use the new key, older ones stay valid, JWKS publishes both', async () => {
    const before = (await backendToken(s, 'system/*.rs')).body.access_token;
    const admin = (await userToken(s, { username: 'admin', password: 'admin pw', scope: 'user/*.cruds' })).body.access_token;
    expect((await s.http.post('/auth/keys/rotate').set('Authorization', `Bearer ${before}`)).status).toBe(403);
    const rotated = await s.http.post('/auth/keys/rotate').set('Authorization', `Bearer ${admin}`);
    expect(rotated.status).toBe(200);
    const kid = rotated.body.kid;
    const active = await s.db.query('SELECT kid FROM auth_signing_key WHERE retired_at IS NULL');
    expect(active.rows.map((r) => r.kid)).toEqual([kid]);
    const after = (await backendToken(s, 'system/*.rs')).body.access_token;
    const header = (t: string) => JSON.parse(Buffer.from(t.split('.')[0], 'base64url').toString());
    expect(header(after).kid).toBe(kid);
    expect(header(before).kid).not.toBe(kid);
    expect((await read(before)).status).toBe(200);
    expect((await read(after)).status).toBe(200);
    const jwks = await s.http.get('/auth/jwks');
    const kids = jwks.body.keys.map((k: any) => k.kid);
    expect(kids).toEqual(expect.arrayContaining([kid, header(before).kid]));
    for (const k of jwks.body.keys) expect(k.d).toBeUndefined();
  });

  const realPostgres = process.env.TEST_DATABASE_URL ? it : it.skip;
  realPostgres('several processes agree: a second server on the same database verifies tokens and sees revocations', async () => {
    const second: NestExpressApplication = await createApp(s.config);
    await second.init();
    try {
      const http2 = request(second.getHttpServer());
      const t = await userToken(s, { ...ALICE, scope: 'patient/*.rs' });
      expect((await http2.get('/fhir/Patient').set('Authorization', `Bearer ${t.body.access_token}`)).status).toBe(200);
      await s.http.post('/auth/revoke').type('form').send({ token: t.body.access_token, client_id: 'demo-app' });
      // the second process learns it by NOTIFY (milliseconds); allow for delivery, never for a cache expiry
      const start = Date.now();
      let status = 200;
      while (Date.now() - start < 1000 && status === 200) {
        status = (await http2.get('/fhir/Patient').set('Authorization', `Bearer ${t.body.access_token}`)).status;
      }
      expect(status).toBe(401);
      expect(Date.now() - start).toBeLessThan(1000);
      // without its listener a process checks the database on every request (fails closed)
      const revocations = second.get(Revocations) as any;
      revocations.live = false;
      const t2 = await userToken(s, { ...ALICE, scope: 'patient/*.rs' });
      await s.http.post('/auth/revoke').type('form').send({ token: t2.body.access_token, client_id: 'demo-app' });
      expect((await http2.get('/fhir/Patient').set('Authorization', `Bearer ${t2.body.access_token}`)).status).toBe(401);
    } finally {
      await second.close();
    }
  });
});

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createHash, randomBytes, randomUUID } from 'crypto';
import { CryptoKey, exportJWK, generateKeyPair, JWK, SignJWT } from '../../src/auth/jose';
import { startTestApp, TestApp } from '../helpers/test-app';

/** Keys of the backend-services clients of the test seed file. */
export interface SmartKeys {
  rs384: { privateKey: CryptoKey; publicJwk: JWK };
  es384: { privateKey: CryptoKey; publicJwk: JWK };
}

export interface SmartApp extends TestApp {
  keys: SmartKeys;
  seedFile: string;
  tokenUrl: string;
}

async function keyPair(alg: 'RS384' | 'ES384', kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

/** The seed file of docs/interface.md plus clients the tests need. */
export function seedDocument(keys: SmartKeys, extra: { redirect?: string } = {}) {
  const redirect = extra.redirect ?? 'http://localhost:9000/callback';
  return {
    clients: [
      {
        client_id: 'ehr-sync',
        name: 'EHR sync',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [keys.rs384.publicJwk] },
        scope: 'system/*.rs system/Patient.cruds',
      },
      {
        client_id: 'ec-backend',
        name: 'EC backend',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [keys.es384.publicJwk] },
        scope: 'system/*.cruds',
      },
      {
        client_id: 'demo-app',
        name: 'Demo SMART app',
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
        redirect_uris: [redirect],
        scope: 'launch launch/patient openid fhirUser offline_access online_access patient/*.cruds user/*.cruds',
      },
      {
        client_id: 'lab-portal',
        client_secret: 's3cret',
        grant_types: ['authorization_code', 'client_credentials', 'refresh_token'],
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: ['http://localhost:9001/cb'],
        scope: 'user/*.rs system/*.rs',
      },
      {
        // a resource server that may introspect every token (the `introspect` client permission)
        client_id: 'rs-gateway',
        client_secret: 'gw-s3cret',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'system/Patient.rs introspect',
      },
      {
        client_id: 'post-client',
        client_secret: 'p0st',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_post',
        scope: 'system/Observation.rs',
      },
    ],
    users: [
      { username: 'dr.smith', password: 'correct horse', fhirUser: 'Practitioner/dr-smith' },
      { username: 'alice', password: 'alice pw', fhirUser: 'Patient/alice' },
      { username: 'bob', password: 'bob pw', fhirUser: 'Patient/bob' },
      { username: 'admin', password: 'admin pw', roles: ['admin'] },
    ],
  };
}

/** A test app with auth required, seeded with the clients and users above. */
export async function startSmartApp(env: Record<string, string> = {}, opts: { redirect?: string } = {}): Promise<SmartApp> {
  const keys: SmartKeys = { rs384: await keyPair('RS384', 'k1'), es384: await keyPair('ES384', 'e1') };
  const seedFile = path.join(os.tmpdir(), `smart-seed-${randomUUID()}.json`);
  fs.writeFileSync(seedFile, JSON.stringify(seedDocument(keys, opts)));
  const t = await startTestApp({ AUTH_REQUIRED: 'true', SEED_FILE: seedFile, AUTH_RATE_LIMIT: '100000', ...env });
  const close = t.close;
  return {
    ...t,
    keys,
    seedFile,
    tokenUrl: `${t.config.publicUrl}/auth/token`,
    close: async () => {
      await close();
      fs.rmSync(seedFile, { force: true });
    },
  };
}

/** A SMART Backend Services client assertion (RFC 7523). */
export function clientAssertion(
  key: CryptoKey,
  o: { clientId: string; aud: string; alg?: 'RS384' | 'ES384'; kid?: string; jti?: string; expiresIn?: number; exp?: number },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: o.alg ?? 'RS384', kid: o.kid ?? 'k1', typ: 'JWT' })
    .setIssuer(o.clientId)
    .setSubject(o.clientId)
    .setAudience(o.aud)
    .setJti(o.jti ?? randomUUID())
    .setExpirationTime(o.exp ?? now + (o.expiresIn ?? 240))
    .sign(key);
}

/** client_credentials with private_key_jwt; returns the HTTP response. */
export async function backendToken(s: SmartApp, scope: string, clientId = 'ehr-sync') {
  const ec = clientId === 'ec-backend';
  const assertion = await clientAssertion(ec ? s.keys.es384.privateKey : s.keys.rs384.privateKey, {
    clientId,
    aud: s.tokenUrl,
    alg: ec ? 'ES384' : 'RS384',
    kid: ec ? 'e1' : 'k1',
  });
  return s.http.post('/auth/token').type('form').send({
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  });
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Hidden inputs and actions of a server-rendered form page. */
export function formFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) out[m[1]] = unescape(m[2]);
  return out;
}

function unescape(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

export function cookieOf(res: { headers: Record<string, any> }): string | undefined {
  const set = res.headers['set-cookie'] as string[] | undefined;
  return set?.map((c) => c.split(';')[0]).join('; ');
}

export interface CodeFlowOptions {
  clientId?: string;
  redirectUri?: string;
  scope: string;
  username: string;
  password: string;
  /** patient to pick when the picker appears */
  pick?: string;
  launch?: string;
  decision?: 'allow' | 'deny';
  aud?: string;
  /** basic auth secret for a confidential client */
  secret?: string;
}

/** GET /auth/authorize with PKCE: the login page (`start`) and what the rest of the flow needs. */
export async function startAuthorization(s: SmartApp, o: Pick<CodeFlowOptions, 'clientId' | 'redirectUri' | 'scope' | 'launch' | 'aud'>) {
  const { verifier, challenge } = pkce();
  const clientId = o.clientId ?? 'demo-app';
  const redirectUri = o.redirectUri ?? 'http://localhost:9000/callback';
  const state = randomBytes(8).toString('hex');
  const q: Record<string, string> = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: o.scope,
    state,
    aud: o.aud ?? s.baseUrl,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  if (o.launch) q.launch = o.launch;
  const start = await s.http.get('/auth/authorize').query(q);
  return { start, state, verifier, redirectUri, clientId };
}

/**
 * The authorization code flow driven through the HTML forms (what a browser
 * does, without one): authorize → login → (picker) → consent → redirect.
 * Returns the redirect URL and the PKCE verifier.
 */
export async function authorizeThroughPages(s: SmartApp, o: CodeFlowOptions) {
  const { start, state, verifier, redirectUri, clientId } = await startAuthorization(s, o);
  if (start.status !== 200) return { start, state, verifier, redirectUri, clientId };
  const cookie = cookieOf(start)!;
  let page = await s.http
    .post('/auth/login')
    .set('Cookie', cookie)
    .type('form')
    .send({ ...formFields(start.text), username: o.username, password: o.password });
  if (page.status !== 200) return { page, state, verifier, redirectUri, clientId };
  if (page.text.includes('Select a patient')) {
    page = await s.http.post('/auth/patient').set('Cookie', cookie).type('form').send({ ...formFields(page.text), patient: o.pick });
  }
  const consent = page;
  const done = await s.http
    .post('/auth/consent')
    .set('Cookie', cookie)
    .type('form')
    .send({ ...formFields(consent.text), decision: o.decision ?? 'allow' });
  const location = new URL(done.headers.location ?? 'http://invalid/');
  return { consent, done, location, code: location.searchParams.get('code') ?? undefined, state, verifier, redirectUri, clientId };
}

/** Full flow to a token response. */
export async function userToken(s: SmartApp, o: CodeFlowOptions) {
  const r = await authorizeThroughPages(s, o);
  if (!r.code) throw new Error(`no code: ${r.location?.toString()} ${(r as any).page?.status ?? ''}`);
  const req = s.http.post('/auth/token').type('form');
  if (o.secret) req.auth(r.clientId, o.secret);
  return req.send({
    grant_type: 'authorization_code',
    code: r.code,
    redirect_uri: r.redirectUri,
    code_verifier: r.verifier,
    ...(o.secret ? {} : { client_id: r.clientId }),
  });
}

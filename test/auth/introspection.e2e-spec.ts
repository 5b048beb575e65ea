import { tokenFor } from './scope-fixtures';
import { backendToken, clientAssertion, SmartApp, startSmartApp, userToken } from './smart-helpers';

/**
 * Who may introspect what: RFC 7662 §2.1 ("the endpoint MUST also require some
 * form of authorization to access this endpoint") and §4 (protected against
 * token scanning), SMART App Launch "Token Introspection" (a client authorized
 * to introspect authenticates with its client credentials). A client sees its
 * own tokens; a resource server registered with the `introspect` permission,
 * or an admin token, any; a token the caller may not see is `{"active": false}`.
 */
describe('token introspection access (RFC 7662 §2.1, §4)', () => {
  let s: SmartApp;
  let appToken: { access_token: string; refresh_token: string };
  let labToken: string;
  let ehrToken: string;

  const introspect = () => s.http.post('/auth/introspect').type('form');
  const asLab = (token: string) => introspect().auth('lab-portal', 's3cret').send({ token });
  const asBearer = (bearer: string, token: string) => introspect().set('Authorization', `Bearer ${bearer}`).send({ token });
  const asEhrSync = async (token: string) =>
    introspect().send({
      token,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await clientAssertion(s.keys.rs384.privateKey, { clientId: 'ehr-sync', aud: s.tokenUrl }),
    });

  beforeAll(async () => {
    s = await startSmartApp();
    appToken = (await userToken(s, { username: 'alice', password: 'alice pw', scope: 'launch/patient patient/*.rs offline_access' })).body;
    labToken = (await s.http.post('/auth/token').auth('lab-portal', 's3cret').type('form').send({ grant_type: 'client_credentials' })).body.access_token;
    ehrToken = (await backendToken(s, 'system/*.rs')).body.access_token;
  });
  afterAll(async () => s?.close());

  it('a confidential client introspects the tokens issued to itself (client_secret_basic, private_key_jwt, client_secret_post)', async () => {
    const own = await asLab(labToken);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ active: true, client_id: 'lab-portal', scope: 'system/*.rs' });
    expect((await asEhrSync(ehrToken)).body).toMatchObject({ active: true, client_id: 'ehr-sync' });
    const post = (await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'post-client', client_secret: 'p0st' })).body.access_token;
    const viaPost = await introspect().send({ token: post, client_id: 'post-client', client_secret: 'p0st' });
    expect(viaPost.body).toMatchObject({ active: true, client_id: 'post-client' });
  });

  it('another client\'s tokens answer {"active": false}, exactly like an unknown token (nothing revealed)', async () => {
    for (const token of [appToken.access_token, appToken.refresh_token, ehrToken]) {
      const r = await asLab(token);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ active: false });
    }
    expect((await asEhrSync(labToken)).body).toEqual({ active: false });
    expect((await asLab('not-a-token')).body).toEqual({ active: false });
  });

  it('a resource server registered with the `introspect` permission introspects any token, by client auth or its client_credentials token', async () => {
    const rs = await introspect().auth('rs-gateway', 'gw-s3cret').send({ token: appToken.access_token });
    expect(rs.body).toMatchObject({ active: true, client_id: 'demo-app', patient: 'alice', fhirUser: 'Patient/alice' });
    const refresh = await introspect().auth('rs-gateway', 'gw-s3cret').send({ token: appToken.refresh_token });
    expect(refresh.body).toMatchObject({ active: true, token_type: 'refresh_token', client_id: 'demo-app' });
    const own = (await s.http.post('/auth/token').auth('rs-gateway', 'gw-s3cret').type('form').send({ grant_type: 'client_credentials' })).body;
    // the permission is read from the registration, never granted in a token's scope
    expect(own.scope).toBe('system/Patient.rs');
    expect((await asBearer(own.access_token, ehrToken)).body).toMatchObject({ active: true, client_id: 'ehr-sync' });
  });

  it('a bearer token with admin powers introspects any token; other bearer tokens get 401 with a Bearer challenge (RFC 7662 §2.3)', async () => {
    const admin = await tokenFor(s, 'admin', 'user/*.cruds');
    expect((await asBearer(admin, labToken)).body).toMatchObject({ active: true, client_id: 'lab-portal' });
    const adminRoleOnly = await tokenFor(s, 'admin', 'user/Patient.rs');
    for (const bearer of [ehrToken, labToken, appToken.access_token, adminRoleOnly]) {
      const r = await asBearer(bearer, labToken);
      expect(r.status).toBe(401);
      expect(r.body.error).toBe('insufficient_scope');
      expect(r.headers['www-authenticate']).toMatch(/^Bearer .*error="insufficient_scope"/);
    }
    const bad = await asBearer('not-a-token', labToken);
    expect([bad.status, bad.body.error]).toEqual([401, 'invalid_token']);
    expect(bad.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_token"/);
  });

  it('discovery names the client authentication methods of introspection and revocation (RFC 8414 §2)', async () => {
    const oidc = (await s.http.get('/.well-known/openid-configuration')).body;
    expect(oidc.introspection_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
    expect(oidc.revocation_endpoint_auth_methods_supported).toContain('none');
  });

  it('no credentials, a wrong secret or a public client: 401 invalid_client with a challenge', async () => {
    const anonymous = await introspect().send({ token: labToken });
    const wrong = await introspect().auth('lab-portal', 'wrong').send({ token: labToken });
    const publicClient = await introspect().send({ token: labToken, client_id: 'demo-app' });
    for (const r of [anonymous, wrong, publicClient]) {
      expect([r.status, r.body.error]).toEqual([401, 'invalid_client']);
      expect(r.headers['www-authenticate']).toMatch(/^Basic /);
      expect(r.body.active).toBeUndefined();
    }
  });
});

import { FHIR_JSON } from '../helpers/test-app';
import { backendToken, SmartApp, startSmartApp, userToken } from './smart-helpers';

const ALICE = { username: 'alice', password: 'alice pw' };

/**
 * Refresh requests that are refused (RFC 6749 §5.2: an error response has no
 * effect) leave the refresh token usable; only a token that was actually
 * rotated, presented again, ends the grant (RFC 6749 §10.4, SMART App
 * Launch §"Refresh access token").
 */
describe('refresh token: refused requests have no side effects', () => {
  let s: SmartApp;
  beforeAll(async () => {
    s = await startSmartApp();
    const sys = (await backendToken(s, 'system/*.cruds', 'ec-backend')).body.access_token;
    await s.http.put('/fhir/Patient/alice').set('Authorization', `Bearer ${sys}`).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', id: 'alice' });
  });
  afterAll(async () => s?.close());

  const refresh = (fields: Record<string, string>, secret?: string) => {
    const req = s.http.post('/auth/token').type('form');
    if (secret) req.auth('lab-portal', secret);
    return req.send({ grant_type: 'refresh_token', ...fields });
  };
  const aliceGrant = () => userToken(s, { ...ALICE, scope: 'launch/patient offline_access patient/*.rs' });
  const read = (at: string) => s.http.get('/fhir/Patient/alice').set('Authorization', `Bearer ${at}`);

  it('an invalid_scope refresh does not consume the token or end the grant', async () => {
    const t = await aliceGrant();
    const wider = await refresh({ refresh_token: t.body.refresh_token, client_id: 'demo-app', scope: 'patient/*.cruds' });
    expect(wider.status).toBe(400);
    expect(wider.body.error).toBe('invalid_scope');
    expect((await read(t.body.access_token)).status).toBe(200);
    const ok = await refresh({ refresh_token: t.body.refresh_token, client_id: 'demo-app' });
    expect(ok.status).toBe(200);
    expect((await read(ok.body.access_token)).status).toBe(200);
  });

  it('another client presenting the token is refused and cannot end the grant', async () => {
    const t = await aliceGrant();
    const other = await refresh({ refresh_token: t.body.refresh_token }, 's3cret');
    expect(other.status).toBe(400);
    expect(other.body.error).toBe('invalid_grant');
    expect((await read(t.body.access_token)).status).toBe(200);
    expect((await refresh({ refresh_token: t.body.refresh_token, client_id: 'demo-app' })).status).toBe(200);
  });

  it('a rotated token presented again still ends the grant (replay detection)', async () => {
    const t = await aliceGrant();
    const r1 = await refresh({ refresh_token: t.body.refresh_token, client_id: 'demo-app' });
    expect(r1.status).toBe(200);
    const replay = await refresh({ refresh_token: t.body.refresh_token, client_id: 'demo-app' });
    expect(replay.body.error).toBe('invalid_grant');
    expect((await refresh({ refresh_token: r1.body.refresh_token, client_id: 'demo-app' })).body.error).toBe('invalid_grant');
    expect((await read(r1.body.access_token)).status).toBe(401);
  });

  it('down-scoping to scopes covered by the granted ones (patient/Observation.rs under patient/*.rs) is accepted', async () => {
    const t = await aliceGrant();
    const narrow = await refresh({ refresh_token: t.body.refresh_token, client_id: 'demo-app', scope: 'patient/Observation.rs offline_access' });
    expect(narrow.status).toBe(200);
    expect(narrow.body.scope).toBe('patient/Observation.rs offline_access');
    expect((await read(narrow.body.access_token)).status).toBe(403);
    // the rotated refresh token keeps the grant's full scope
    const again = await refresh({ refresh_token: narrow.body.refresh_token, client_id: 'demo-app' });
    expect(again.body.scope).toBe('launch/patient offline_access patient/*.rs');
  });
});

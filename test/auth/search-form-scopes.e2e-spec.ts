import { ids, loadFixtures, tokenFor } from './scope-fixtures';
import { backendToken, SmartApp, startSmartApp } from './smart-helpers';

/**
 * A search by POST with a form body (http.html#search) is authorized on the
 * parameters it executes: the scope policy reads the query string and the
 * form body with the FHIR layer's own reader (query-string.ts
 * `formBodyPairs`), so `_type` in the body names the types checked against
 * the token's scopes (search.html#_type), exactly as the search then runs them.
 */
describe('POST _search with a form body is authorized on exactly the types it searches', () => {
  let s: SmartApp;
  let sysObs: string;
  let aliceObs: string;
  const post = (token: string, url: string, body: string) =>
    s.http.post(url).set('Authorization', `Bearer ${token}`).type('form').send(body);

  beforeAll(async () => {
    s = await startSmartApp();
    await loadFixtures(s);
    sysObs = (await backendToken(s, 'system/Observation.rs', 'ec-backend')).body.access_token;
    aliceObs = await tokenFor(s, 'alice', 'patient/Observation.rs');
  });
  afterAll(async () => s?.close());

  it('system level: a token for Observation searches Observation through the body, and no other type', async () => {
    const own = await post(sysObs, '/fhir/_search', '_type=Observation');
    expect(own.status).toBe(200);
    expect(ids(own.body)).toEqual(['Observation/obs-a-lab', 'Observation/obs-a-vital', 'Observation/obs-b-vital']);

    for (const body of ['_type=Condition', '_type=Observation,Condition', '_type=Observation&_type=Condition', '%5Ftype=Condition', '_type=Cond%69tion']) {
      const res = await post(sysObs, '/fhir/_search', body);
      expect([body, res.status]).toEqual([body, 403]);
      expect(res.body.issue[0].diagnostics).toMatch(/search on Condition/);
    }
    // query string and body together, as the search executes them
    expect((await post(sysObs, '/fhir/_search?_type=Observation', '_type=Condition')).status).toBe(403);
    expect((await post(sysObs, '/fhir/_search?_type=Condition', '_type=Observation')).status).toBe(403);
  });

  it('a malformed body is a 400 before any decision: authorization reads no pairs the search would not execute', async () => {
    const res = await post(sysObs, '/fhir/_search', '_type=Condition&code=%zz');
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/parameter "code".*percent-encoding/);
  });

  it('compartment search over every type by POST (Patient/[id]/*/_search) checks the body types like GET Patient/[id]/*', async () => {
    expect((await s.http.get('/fhir/Patient/alice/*?_type=Condition').set('Authorization', `Bearer ${aliceObs}`)).status).toBe(403);
    expect((await post(aliceObs, '/fhir/Patient/alice/*/_search', '_type=Condition')).status).toBe(403);
    const own = await post(aliceObs, '/fhir/Patient/alice/*/_search', '_type=Observation');
    expect(own.status).toBe(200);
    expect(ids(own.body)).toEqual(['Observation/obs-a-lab', 'Observation/obs-a-vital']);
  });
});

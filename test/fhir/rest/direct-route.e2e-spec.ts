import request from 'supertest';
import { directRouteOf } from '../../../src/fhir/rest/direct-route';
import { rid } from '../../audit/audit-helpers';
import { backendToken, SmartApp, startSmartApp } from '../../auth/smart-helpers';
import { FHIR_JSON } from '../../helpers/test-app';

/**
 * The direct route (src/fhir/rest/direct-route.ts) answers the frequent GETs
 * (read, vread, type and compartment search, history) from node:http before Express. Oracle: the very same app's Express
 * stack, reached through the Express application alone (supertest on
 * `getHttpAdapter().getInstance()` makes its own server without the direct
 * route). Every answer must be the same: status, FHIR headers and body
 * (http.html §3.1.0.1 read, §3.1.0.3 vread, §3.1.0.8 search, §3.1.0.4 history, content negotiation, ETag /
 * If-None-Match, SMART 401/403, CORS, X-Request-Id, AuditEvent).
 */
describe('direct route: the frequent interactions answer as the Express stack does', () => {
  let s: SmartApp;
  let token: string;
  let obsOnly: string;
  let patientId: string;
  let deletedId: string;
  let direct: ReturnType<typeof request>;
  let viaExpress: ReturnType<typeof request>;

  beforeAll(async () => {
    s = await startSmartApp();
    direct = request(s.app.getHttpServer());
    viaExpress = request(s.app.getHttpAdapter().getInstance());
    token = (await backendToken(s, 'system/Patient.cruds')).body.access_token;
    obsOnly = (await backendToken(s, 'system/Observation.rs', 'ec-backend')).body.access_token;
    const auth = { Authorization: `Bearer ${token}`, 'Content-Type': FHIR_JSON };
    const body = (family: string) => JSON.stringify({ resourceType: 'Patient', name: [{ family, given: ['Direct'] }], gender: 'female' });
    patientId = (await s.http.post('/fhir/Patient').set(auth).send(body('Directroute'))).body.id;
    deletedId = (await s.http.post('/fhir/Patient').set(auth).send(body('Gone'))).body.id;
    expect((await s.http.delete(`/fhir/Patient/${deletedId}`).set(auth)).status).toBe(204);
  }, 60_000);

  afterAll(async () => s?.close());

  const HEADERS = ['content-type', 'etag', 'last-modified', 'www-authenticate', 'access-control-allow-origin', 'access-control-expose-headers'];
  /** status, the FHIR headers and the body; a search Bundle's own id and timestamp differ per answer */
  const answer = (r: request.Response) => {
    const body = r.body && typeof r.body === 'object' && r.body.resourceType === 'Bundle' ? { ...r.body, id: undefined, meta: undefined } : r.body;
    return { status: r.status, headers: Object.fromEntries(HEADERS.map((h) => [h, r.headers[h]])), body, text: body === r.body ? r.text : undefined };
  };

  const cases: [string, string, () => Record<string, string>][] = [
    ['read', '/fhir/Patient/{id}', () => ({ Authorization: `Bearer ${token}` })],
    ['read, _pretty', '/fhir/Patient/{id}?_pretty=true', () => ({ Authorization: `Bearer ${token}` })],
    ['read, If-None-Match current version: 304', '/fhir/Patient/{id}', () => ({ Authorization: `Bearer ${token}`, 'If-None-Match': 'W/"1"' })],
    ['read, malformed If-None-Match: 400', '/fhir/Patient/{id}', () => ({ Authorization: `Bearer ${token}`, 'If-None-Match': 'one' })],
    ['read of a deleted resource: 410', '/fhir/Patient/{deleted}', () => ({ Authorization: `Bearer ${token}` })],
    ['read of an unknown id: 404', '/fhir/Patient/nope', () => ({ Authorization: `Bearer ${token}` })],
    ['read of an unknown type: 404', '/fhir/Nonsense/1', () => ({ Authorization: `Bearer ${token}` })],
    ['read, _format=xml: 406', '/fhir/Patient/{id}?_format=xml', () => ({ Authorization: `Bearer ${token}` })],
    ['read, Accept XML: 406', '/fhir/Patient/{id}', () => ({ Authorization: `Bearer ${token}`, Accept: 'application/fhir+xml' })],
    ['read, Accept fhirVersion=3.0: 406 (http.html#version-parameter)', '/fhir/Patient/{id}', () => ({ Authorization: `Bearer ${token}`, Accept: 'application/fhir+json; fhirVersion=3.0' })],
    ['read, Accept fhirVersion=4.0: 200 naming R4', '/fhir/Patient/{id}', () => ({ Authorization: `Bearer ${token}`, Accept: 'application/fhir+json; fhirVersion=4.0' })],
    ['read without a token: 401', '/fhir/Patient/{id}', () => ({})],
    ['read with a bad token: 401', '/fhir/Patient/{id}', () => ({ Authorization: 'Bearer not.a.token' })],
    ['read outside the scopes: 403', '/fhir/Patient/{id}', () => ({ Authorization: `Bearer ${obsOnly}` })],
    ['read with CORS', '/fhir/Patient/{id}', () => ({ Authorization: `Bearer ${token}`, Origin: 'https://app.example' })],
    ['search', '/fhir/Patient?family=Directroute', () => ({ Authorization: `Bearer ${token}` })],
    ['search, no parameters', '/fhir/Patient', () => ({ Authorization: `Bearer ${token}` })],
    ['search, _summary=count', '/fhir/Patient?_summary=count', () => ({ Authorization: `Bearer ${token}` })],
    ['search, unknown parameter: 400', '/fhir/Patient?nonsense=1', () => ({ Authorization: `Bearer ${token}` })],
    ['search, bad date: 400', '/fhir/Patient?birthdate=notadate', () => ({ Authorization: `Bearer ${token}` })],
    ['vread', '/fhir/Patient/{id}/_history/1', () => ({ Authorization: `Bearer ${token}` })],
    ['vread of an unknown version: 404', '/fhir/Patient/{id}/_history/9', () => ({ Authorization: `Bearer ${token}` })],
    ['vread of the deletion: 410', '/fhir/Patient/{deleted}/_history/2', () => ({ Authorization: `Bearer ${token}` })],
    ['instance history', '/fhir/Patient/{deleted}/_history', () => ({ Authorization: `Bearer ${token}` })],
    ['type history, _count', '/fhir/Patient/_history?_count=1', () => ({ Authorization: `Bearer ${token}` })],
    ['system history, bad _since: 400', '/fhir/_history?_since=yesterday', () => ({ Authorization: `Bearer ${token}` })],
    ['compartment search', '/fhir/Patient/{id}/Observation', () => ({ Authorization: `Bearer ${obsOnly}` })],
    ['compartment search of an unknown type: 404', '/fhir/Patient/{id}/Nonsense', () => ({ Authorization: `Bearer ${token}` })],
    ['search outside the scopes: 403', '/fhir/Patient?family=Directroute', () => ({ Authorization: `Bearer ${obsOnly}` })],
  ];

  it.each(cases)('%s', async (_name, template, headers) => {
    const path = template.replace('{id}', patientId).replace('{deleted}', deletedId);
    // the case really is the direct route's
    expect(directRouteOf({ method: 'GET', url: path, headers: {} })).toBeDefined();
    const a = await direct.get(path).set(headers());
    const b = await viaExpress.get(path).set(headers());
    expect(answer(a)).toEqual(answer(b));
  });

  /**
   * The writes (http.html §3.1.0.5 create, §3.1.0.4 update, §3.1.0.6 patch, §3.1.0.7 delete,
   * §3.1.0.11 transaction and batch; body parsing 400/413/415; Prefer; If-Match 412;
   * If-None-Exist). Each path writes its own resources, so generated ids and timestamps are
   * replaced by placeholders before comparing; each case gets, per path, a Patient of its own.
   */
  const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
  const INSTANT = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/g;
  const WRITE_HEADERS = [...HEADERS.filter((h) => h !== 'last-modified'), 'location', 'content-location'];
  const generic = (text: string | undefined, own: string) =>
    text?.split(own).join('{own}').replace(UUID, '{uuid}').replace(INSTANT, '{instant}').replace(/direct-[a-z]+-[0-9a-z]+/g, '{client-id}');
  const writeAnswer = (r: request.Response, own: string) => ({
    status: r.status,
    headers: Object.fromEntries(WRITE_HEADERS.map((h) => [h, generic(r.headers[h], own)])),
    lastModified: r.headers['last-modified'] !== undefined,
    body: generic(r.text, own),
  });
  const json = () => ({ Authorization: `Bearer ${token}`, 'Content-Type': FHIR_JSON });
  const patient = (extra: object = {}) => ({ resourceType: 'Patient', name: [{ family: 'Written', given: ['Direct'] }], ...extra });
  const bundle = (type: string) => ({
    resourceType: 'Bundle',
    type,
    entry: [
      { fullUrl: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a', resource: patient(), request: { method: 'POST', url: 'Patient' } },
      {
        resource: patient({ link: [{ other: { reference: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a' }, type: 'seealso' }] }),
        request: { method: 'POST', url: 'Patient' },
      },
      ...(type === 'batch' ? [{ resource: { resourceType: 'Patient', bogus: 1 }, request: { method: 'POST', url: 'Patient' } }] : []),
    ],
  });
  let n = 0;
  const clientId = () => `direct-put-${(n++).toString(36)}${Date.now().toString(36)}`;
  type Agent = ReturnType<typeof request>;
  const writes: [string, (a: Agent, own: string) => request.Test | Promise<request.Response>][] = [
    ['create', (a) => a.post('/fhir/Patient').set(json()).send(patient())],
    ['create, Prefer return=representation', (a) => a.post('/fhir/Patient').set({ ...json(), Prefer: 'return=representation' }).send(patient())],
    ['create, Prefer return=OperationOutcome', (a) => a.post('/fhir/Patient').set({ ...json(), Prefer: 'return=OperationOutcome' }).send(patient())],
    ['create, application/json and _pretty', (a) => a.post('/fhir/Patient?_pretty=true').set({ ...json(), 'Content-Type': 'application/json' }).send(patient())],
    ['create, unknown element: 4xx', (a) => a.post('/fhir/Patient').set(json()).send(patient({ bogus: true }))],
    ['create, resourceType mismatch: 400', (a) => a.post('/fhir/Patient').set(json()).send({ resourceType: 'Observation' })],
    ['create, malformed JSON: 400', (a) => a.post('/fhir/Patient').set(json()).send('{"resourceType":')],
    ['create, no body: 400', (a) => a.post('/fhir/Patient').set({ Authorization: `Bearer ${token}` })],
    ['create, XML: 415', (a) => a.post('/fhir/Patient').set({ ...json(), 'Content-Type': 'application/fhir+xml' }).send('<Patient/>')],
    ['create, body in fhirVersion=3.0: 415', (a) => a.post('/fhir/Patient').set({ ...json(), 'Content-Type': 'application/fhir+json; fhirVersion=3.0' }).send(JSON.stringify(patient()))],
    ['create, form body: 415', (a) => a.post('/fhir/Patient').set({ Authorization: `Bearer ${token}` }).type('form').send({ resourceType: 'Patient' })],
    ['create, Accept XML: 406', (a) => a.post('/fhir/Patient').set({ ...json(), Accept: 'application/fhir+xml' }).send(patient())],
    ['create, body above the limit: 413', (a) => a.post('/fhir/Patient').set(json()).send(patient({ text: { div: 'x'.repeat(s.config.maxBodyBytes) } }))],
    ['create of an unknown type: 404', (a) => a.post('/fhir/Nonsense').set(json()).send({ resourceType: 'Nonsense' })],
    ['create without a token: 401', (a) => a.post('/fhir/Patient').set({ 'Content-Type': FHIR_JSON }).send(patient())],
    ['create outside the scopes: 403', (a) => a.post('/fhir/Patient').set({ ...json(), Authorization: `Bearer ${obsOnly}` }).send(patient())],
    ['create, CORS', (a) => a.post('/fhir/Patient').set({ ...json(), Origin: 'https://app.example' }).send(patient())],
    ['conditional create of an existing match: 200', (a) => a.post('/fhir/Patient').set({ ...json(), 'If-None-Exist': `_id=${patientId}` }).send(patient())],
    ['update', (a, own) => a.put(`/fhir/Patient/${own}`).set(json()).send(patient({ id: own, gender: 'male' }))],
    ['update, If-Match current: 200', (a, own) => a.put(`/fhir/Patient/${own}`).set({ ...json(), 'If-Match': 'W/"1"' }).send(patient({ id: own }))],
    ['update, stale If-Match: 412', (a, own) => a.put(`/fhir/Patient/${own}`).set({ ...json(), 'If-Match': 'W/"7"' }).send(patient({ id: own }))],
    ['update, id mismatch: 400', (a, own) => a.put(`/fhir/Patient/${own}`).set(json()).send(patient({ id: 'other' }))],
    ['update as create with a client id: 201', (a) => {
      const id = clientId();
      return a.put(`/fhir/Patient/${id}`).set(json()).send(patient({ id }));
    }],
    ['update of a deleted resource: 201', async (a, own) => {
      expect((await s.http.delete(`/fhir/Patient/${own}`).set(json())).status).toBe(204);
      return a.put(`/fhir/Patient/${own}`).set(json()).send(patient({ id: own }));
    }],
    ['patch', (a, own) => a.patch(`/fhir/Patient/${own}`).set({ ...json(), 'Content-Type': 'application/json-patch+json' }).send([{ op: 'replace', path: '/name/0/family', value: 'Patched' }])],
    ['patch, failing test op: 4xx', (a, own) => a.patch(`/fhir/Patient/${own}`).set({ ...json(), 'Content-Type': 'application/json-patch+json' }).send([{ op: 'test', path: '/gender', value: 'other' }])],
    ['patch, form body: 415', (a, own) => a.patch(`/fhir/Patient/${own}`).set({ Authorization: `Bearer ${token}` }).type('form').send({ a: 'b' })],
    ['delete', (a, own) => a.delete(`/fhir/Patient/${own}`).set({ Authorization: `Bearer ${token}` })],
    ['delete, stale If-Match: 412', (a, own) => a.delete(`/fhir/Patient/${own}`).set({ Authorization: `Bearer ${token}`, 'If-Match': 'W/"3"' })],
    ['delete outside the scopes: 403', (a, own) => a.delete(`/fhir/Patient/${own}`).set({ Authorization: `Bearer ${obsOnly}` })],
    ['delete of an id that never existed: 204 (http.html#delete)', (a) => a.delete(`/fhir/Patient/${clientId()}`).set({ Authorization: `Bearer ${token}` })],
    ['transaction with urn:uuid references', (a) => a.post('/fhir').set(json()).send(bundle('transaction'))],
    ['batch with a bad entry', (a) => a.post('/fhir').set(json()).send(bundle('batch'))],
    ['transaction, not a Bundle: 400', (a) => a.post('/fhir').set(json()).send(patient())],
  ];

  it.each(writes)('%s', async (_name, write) => {
    const own = async () => (await s.http.post('/fhir/Patient').set(json()).send(patient())).body.id as string;
    const [ownA, ownB] = [await own(), await own()];
    const a = await write(direct, ownA);
    const b = await write(viaExpress, ownB);
    // the case really is the direct route's
    const sent = (a as unknown as { req: { method: string; path: string } }).req;
    expect(directRouteOf({ method: sent.method, url: sent.path, headers: {} })).toBeDefined();
    expect(writeAnswer(a, ownA)).toEqual(writeAnswer(b, ownB));
  });

  it('a create on the direct route stores its AuditEvent in the write statement (BALP create)', async () => {
    const id = rid();
    const r = await direct.post('/fhir/Patient').set({ ...json(), 'X-Request-Id': id }).send(patient());
    expect(r.status).toBe(201);
    const rows = (await s.db.query('SELECT subtype, action, entity_type, entity_id, entity_version FROM audit_event WHERE request_id = $1', [id])).rows;
    expect(rows).toEqual([{ subtype: ['create'], action: 'C', entity_type: 'Patient', entity_id: r.body.id, entity_version: 1 }]);
  });

  it('echoes a well-formed X-Request-Id and records the read as an AuditEvent (BALP read, the Patient as entity) before answering', async () => {
    const id = rid();
    const r = await direct.get(`/fhir/Patient/${patientId}`).set({ Authorization: `Bearer ${token}`, 'X-Request-Id': id });
    expect(r.status).toBe(200);
    expect(r.headers['x-request-id']).toBe(id);
    // its row, durable before the answer left (the AuditEvent view needs an admin token here)
    const rows = (await s.db.query('SELECT subtype, action, entity_type, entity_id, entity_version, patient FROM audit_event WHERE request_id = $1', [id])).rows;
    expect(rows).toEqual([{ subtype: ['read'], action: 'R', entity_type: 'Patient', entity_id: patientId, entity_version: 1, patient: [patientId] }]);
  });

  it('leaves everything else to Express', () => {
    const none = (method: string, url: string, headers: Record<string, string> = {}) => directRouteOf({ method, url, headers });
    expect(none('POST', '/fhir/Patient/_search')).toBeUndefined();
    expect(none('POST', '/fhir/Patient/1')).toBeUndefined();
    expect(none('POST', '/fhir/$export')).toBeUndefined();
    expect(none('POST', '/fhir/Binary')).toBeUndefined();
    expect(none('POST', '/fhir/AuditEvent')).toBeUndefined();
    expect(none('PUT', '/fhir/Patient?identifier=x')).toBeUndefined();
    expect(none('PATCH', '/fhir/Patient?identifier=x')).toBeUndefined();
    expect(none('DELETE', '/fhir/Patient?identifier=x')).toBeUndefined();
    expect(none('PUT', '/fhir/Patient/1/_history/1')).toBeUndefined();
    expect(none('OPTIONS', '/fhir/Patient/1')).toBeUndefined();
    expect(none('POST', '/fhir/')).toBeUndefined();
    expect(none('POST', '/fhir')).toEqual({ route: 'batchOrTransaction', params: {} });
    expect(none('POST', '/fhir/Patient')).toEqual({ route: 'create', params: { type: 'Patient' } });
    expect(none('PUT', '/fhir/Patient/1')).toEqual({ route: 'update', params: { type: 'Patient', id: '1' } });
    expect(none('PATCH', '/fhir/Patient/1')).toEqual({ route: 'patch', params: { type: 'Patient', id: '1' } });
    expect(none('DELETE', '/fhir/Patient/1')).toEqual({ route: 'delete', params: { type: 'Patient', id: '1' } });
    expect(none('HEAD', '/fhir/Patient/1')).toBeUndefined();
    expect(none('GET', '/fhir/Patient/1', { 'content-length': '2' })).toBeUndefined();
    expect(none('GET', '/fhir/Patient/1/_history/1/x')).toBeUndefined();
    expect(none('GET', '/fhir/Patient/_history/1')).toBeUndefined();
    expect(none('GET', '/fhir/_history/1')).toBeUndefined();
    expect(none('GET', '/fhir?_type=Patient')).toBeUndefined();
    expect(none('GET', '/fhir/Patient/1/AuditEvent')).toBeUndefined();
    expect(none('GET', '/fhir/Patient/1/$everything')).toBeUndefined();
    expect(none('GET', '/fhir//Patient')).toBeUndefined();
    expect(none('GET', '/fhir/Patient/$everything')).toBeUndefined();
    expect(none('GET', '/fhir/Patient/1/')).toBeUndefined();
    expect(none('GET', '/fhir/metadata')).toBeUndefined();
    expect(none('GET', '/fhir/AuditEvent/1')).toBeUndefined();
    expect(none('GET', '/fhir/Binary/1')).toBeUndefined();
    expect(none('GET', '/fhir/Patient/a%2Fb')).toBeUndefined();
    expect(none('GET', '/fhir/Patient/1')).toEqual({ route: 'read', params: { type: 'Patient', id: '1' } });
    expect(none('GET', '/fhir/Observation?code=x')).toEqual({ route: 'typeSearch', params: { type: 'Observation' } });
    expect(none('GET', '/fhir/Patient/1/_history/2')).toEqual({ route: 'vread', params: { type: 'Patient', id: '1', vid: '2' } });
    expect(none('GET', '/fhir/Patient/1/Observation?code=x')).toEqual({ route: 'instanceGet', params: { type: 'Patient', id: '1', op: 'Observation' } });
    expect(none('GET', '/fhir/_history?_since=2026-01-01')).toEqual({ route: 'systemHistory', params: {} });
  });
});

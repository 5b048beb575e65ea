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
describe('direct route: the frequent GETs answer as the Express stack does', () => {
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
    expect(none('POST', '/fhir/Patient')).toBeUndefined();
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

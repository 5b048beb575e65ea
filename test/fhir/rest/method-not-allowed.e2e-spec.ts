import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { allowedMethods } from '../../../src/fhir/rest/allowed-methods';

// RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 (Method Not Allowed)
// response containing a list of the target resource's currently supported methods."
describe('405 Method Not Allowed carries Allow (RFC 9110 §15.5.6)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('every 405 names the methods its target supports', async () => {
    const id = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient' })).body.id;
    const cases: [() => Promise<any>, string][] = [
      [() => t.http.post(`/fhir/Patient/${id}`).set('Content-Type', FHIR_JSON).send({}), 'GET, HEAD, PUT, PATCH, DELETE'],
      [() => t.http.delete(`/fhir/Patient/${id}/_history/1`), 'GET, HEAD'],
      [() => t.http.put(`/fhir/Patient/${id}/_history`).send({}), 'GET, HEAD'],
      [() => t.http.get('/fhir/$reindex'), 'POST'],
      // the audit trail is read-only: read and search only
      [() => t.http.post('/fhir/AuditEvent').set('Content-Type', FHIR_JSON).send({ resourceType: 'AuditEvent' }), 'GET, HEAD'],
      [() => t.http.delete('/fhir/AuditEvent/some-id'), 'GET, HEAD'],
    ];
    for (const [send, allow] of cases) {
      const res = await send();
      expect({ path: res.req.path, status: res.status, allow: res.headers.allow }).toEqual({ path: res.req.path, status: 405, allow });
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
  });

  it('the Allow lists match what the routes answer', async () => {
    const id = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient' })).body.id;
    expect(allowedMethods('/fhir')).toEqual(['GET', 'HEAD', 'POST']);
    expect(allowedMethods('/fhir/Patient?name=x')).toEqual(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
    expect(allowedMethods('/fhir/Patient/_search')).toEqual(['POST']);
    expect(allowedMethods('/auth/token')).toBeUndefined();
    // $meta on a historical version; nothing on the audit trail's operation URLs (it is read-only)
    expect(allowedMethods('/fhir/Patient/1/_history/2/$meta')).toEqual(['GET', 'HEAD', 'POST']);
    expect(allowedMethods('/fhir/Patient/1/_history/2/other')).toEqual([]);
    expect(allowedMethods('/fhir/AuditEvent/1/$meta-add')).toEqual([]);
    expect(allowedMethods('/fhir/AuditEvent/$meta')).toEqual([]);
    expect(allowedMethods('/fhir/AuditEvent/1/_history/1/$meta')).toEqual([]);
    // each listed method is routed (not 405) on the instance URL
    for (const method of allowedMethods(`/fhir/Patient/${id}`)!) {
      const res = await (t.http as any)[method.toLowerCase()](`/fhir/Patient/${id}`).set('Content-Type', FHIR_JSON).send(method === 'PUT' ? { resourceType: 'Patient', id } : method === 'PATCH' ? [] : undefined);
      expect({ method, status: res.status }).not.toEqual({ method, status: 405 });
    }
  });
});

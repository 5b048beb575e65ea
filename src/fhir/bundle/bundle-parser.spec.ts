import { expectFhirError } from '../../../test/helpers/fhir-error';
import { readPatch } from '../patch/resource-patch';
import { parseBundle } from './bundle-parser';

// R4 http.html §3.1.0.11: Bundle.entry.request (method, url, ifNoneExist, ifMatch, ...) of batch/transaction
describe('parseBundle', () => {
  const opts = { baseUrl: 'http://h/fhir', maxEntries: 5, isResourceType: (t: string) => ['Patient', 'Observation'].includes(t) };
  const bundle = (type: string, entry: unknown[]) => ({ resourceType: 'Bundle', type, entry });
  const one = (request: object, resource?: object) => parseBundle(bundle('transaction', [{ request, resource }]), opts).entries[0];
  const fails = expectFhirError;

  it('splits request urls into type, id, rest and parameters (relative or on this base)', () => {
    expect(one({ method: 'GET', url: 'Patient/1/_history/2' })).toMatchObject({ resourceType: 'Patient', id: '1', rest: ['_history', '2'] });
    expect(one({ method: 'GET', url: 'http://h/fhir/Patient?name=a%20b' })).toMatchObject({ resourceType: 'Patient', params: [['name', 'a b']] });
    expect(one({ method: 'GET', url: '/_history?_count=2' })).toMatchObject({ rest: ['_history'], params: [['_count', '2']] });
    expect(one({ method: 'DELETE', url: 'Patient?identifier=s|v' })).toMatchObject({ resourceType: 'Patient', params: [['identifier', 's|v']] });
    expect(one({ method: 'POST', url: 'Patient', ifNoneExist: 'identifier=s|v' }, { resourceType: 'Patient' }).ifNoneExist).toEqual([
      ['identifier', 's|v'],
    ]);
    expect(one({ method: 'PUT', url: 'Patient/1', ifMatch: 'W/"4"' }, { resourceType: 'Patient', id: '1' }).ifMatch).toBe(4);
  });

  it('names the entry in every error', () => {
    fails(() => one({ method: 'GET', url: 'http://elsewhere/fhir/Patient/1' }), 400, /^Bundle\.entry\[0\]: .*not on this server/);
    fails(() => one({ method: 'PUT', url: 'Patient/1' }, { resourceType: 'Patient', id: '2' }), 400, /does not match/);
    fails(() => one({ method: 'PUT', url: 'Patient' }, { resourceType: 'Patient' }), 400, /needs Type\/id or Type\?search/);
    fails(() => one({ method: 'POST', url: 'Patient/1' }, { resourceType: 'Patient' }), 400, /must be a resource type/);
    fails(() => one({ method: 'FETCH', url: 'Patient' }), 400, /is not GET/);
    fails(() => one({ method: 'GET', url: 'Patient/%zz' }), 400, /not a valid URL/);
  });

  it('keeps the errors of batch entries with the entry, and refuses too many entries with 413', () => {
    const parsed = parseBundle(bundle('batch', [{ request: { method: 'GET', url: 'Patient' } }, { resource: {} }]), opts);
    expect(parsed.entries).toHaveLength(1);
    expect(parsed.errors.get(1)?.status).toBe(400);
    fails(() => parseBundle(bundle('batch', Array(6).fill({ request: { method: 'GET', url: 'Patient' } })), opts), 413, /6 entries/);
    fails(() => parseBundle(bundle('document', []), opts), 400, /transaction or batch/);
  });

  it('reads a JSON Patch from a Binary (http.html §3.1.0.5.1) and a FHIRPath Patch from Parameters', () => {
    const ops = [{ op: 'replace', path: '/active', value: true }];
    const data = Buffer.from(JSON.stringify(ops)).toString('base64');
    expect(readPatch({ resourceType: 'Binary', contentType: 'application/json-patch+json', data })).toEqual({ format: 'json-patch', operations: ops });
    const parameters = { resourceType: 'Parameters', parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'delete' }, { name: 'path', valueString: 'Patient.active' }] }] };
    expect(readPatch(parameters)).toEqual({ format: 'fhirpath-patch', parameters });
    fails(() => readPatch({ resourceType: 'Patient' }), 422, /not a Patient/);
    fails(() => readPatch({ resourceType: 'Binary', contentType: 'text/plain', data }), 422, /not supported/);
    fails(() => readPatch([{ op: 'nope' }]), 400, /invalid JSON Patch/);
  });
});

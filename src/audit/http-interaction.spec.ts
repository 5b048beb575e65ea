import { classifyRequest, patientsInBody } from './http-interaction';

// R4 http.html URL patterns → restful-interaction codes and AuditEvent.action (BALP)
describe('classifyRequest', () => {
  const c = (method: string, path: string, query = '', body?: unknown) => classifyRequest(method, path, query, body);

  it.each([
    ['GET', '/Patient/1', ['read'], 'R'],
    ['HEAD', '/Patient/1', ['read'], 'R'],
    ['GET', '/Patient/1/_history/2', ['vread'], 'R'],
    ['GET', '/Patient/1/_history', ['history-instance'], 'R'],
    ['GET', '/Patient/_history', ['history-type'], 'R'],
    ['GET', '/_history', ['history-system'], 'R'],
    ['GET', '/metadata', ['capabilities'], 'R'],
    ['GET', '/Patient', ['search-type'], 'E'],
    ['POST', '/Patient/_search', ['search-type'], 'E'],
    ['GET', '/', ['search-system'], 'E'],
    ['POST', '/_search', ['search-system'], 'E'],
    ['POST', '/Patient', ['create'], 'C'],
    ['PUT', '/Patient/1', ['update'], 'U'],
    ['PATCH', '/Patient/1', ['patch'], 'U'],
    ['DELETE', '/Patient/1', ['delete'], 'D'],
    ['PUT', '/Patient', ['update'], 'U'],
    ['DELETE', '/Patient', ['delete'], 'D'],
    ['GET', '/$export', ['operation', '$export'], 'E'],
    ['GET', '/Patient/$export', ['operation', '$export'], 'E'],
    ['GET', '/Patient/1/$everything', ['operation', '$everything'], 'E'],
    ['GET', '/Patient/1/Observation', ['search-type'], 'E'],
  ])('%s %s → %j %s', (method, path, subtype, action) => {
    const r = c(method, path);
    expect(r.subtype).toEqual(subtype);
    expect(r.action).toBe(action);
  });

  it('batch and transaction Bundles by their type', () => {
    expect(c('POST', '/', '', { resourceType: 'Bundle', type: 'batch' }).subtype).toEqual(['batch']);
    expect(c('POST', '/', '', { resourceType: 'Bundle', type: 'transaction' }).subtype).toEqual(['transaction']);
  });

  it('entity and version from the URL; the Patient of instance, compartment and search URLs', () => {
    expect(c('GET', '/Observation/o1/_history/3')).toMatchObject({ entityType: 'Observation', entityId: 'o1', entityVersion: 3, patient: [] });
    expect(c('GET', '/Patient/p1').patient).toEqual(['p1']);
    expect(c('GET', '/Patient/p1/Observation').patient).toEqual(['p1']);
    expect(c('GET', '/Observation', 'subject=Patient/p2&code=x').patient).toEqual(['p2']);
    expect(c('GET', '/Observation', 'patient=p3,p4').patient).toEqual(['p3', 'p4']);
    // absolute: on this server's base only (another server's Patient p5 is not this server's p5)
    expect(classifyRequest('GET', '/Observation', 'subject=http://x/fhir/Patient/p5', undefined, 'http://x/fhir').patient).toEqual(['p5']);
    expect(classifyRequest('GET', '/Observation', 'subject=http://other/fhir/Patient/p5,Patient/p6/_history/2', undefined, 'http://x/fhir').patient).toEqual(['p6']);
    expect(classifyRequest('GET', '/Observation', 'patient=http://other/fhir/Patient/p5', undefined, 'http://x/fhir').patient).toEqual([]);
    expect(c('GET', '/Observation', 'code=Patient').patient).toEqual([]);
    // BALP PatientQuery: the Patient named by a typed reference or by _id, even when nothing is found
    expect(c('GET', '/Observation', 'subject:Patient=p6').patient).toEqual(['p6']);
    expect(c('GET', '/Patient', '_id=p7,p8').patient).toEqual(['p7', 'p8']);
    expect(c('POST', '/Patient/_search', '', { _id: 'p9' }).patient).toEqual(['p9']);
    expect(c('GET', '/Observation', '_id=o1&patient.name=smith&patient:identifier=123').patient).toEqual([]);
  });

  it('the query of a search: URL query and, for POST _search, the form body', () => {
    expect(c('GET', '/Patient', 'name=a%20b&_count=2').query).toBe('name=a%20b&_count=2');
    expect(c('POST', '/Patient/_search', 'x=1', { family: 'Doe', given: ['A', 'B'] }).query).toBe('x=1&family=Doe&given=A&given=B');
    expect(c('GET', '/Patient/1').query).toBeUndefined();
    // a compartment search: the request relative to the base (the type searched is in the path)
    expect(c('GET', '/Patient/p1/Observation', 'code=x').query).toBe('Patient/p1/Observation?code=x');
    expect(c('GET', '/Patient/p1/*').query).toBe('Patient/p1/*');
    // an operation's URL parameters (Bulk Data kick-off, the file downloaded), without credentials
    expect(c('GET', '/$export', '_type=Patient&access_token=S').query).toBe('_type=Patient');
    expect(c('GET', '/$export-file', '_jobId=j1&_file=Patient.ndjson').query).toBe('_jobId=j1&_file=Patient.ndjson');
    expect(c('POST', '/Patient/$validate').query).toBeUndefined();
    // never a token (RFC 6750 allows one in the query)
    expect(c('GET', '/Patient', 'name=x&access_token=eyJ.secret&_count=1').query).toBe('name=x&_count=1');
    expect(c('POST', '/Patient/_search', '', { access_token: 'eyJ.secret', name: 'y' }).query).toBe('name=y');
  });

  // BALP (content.html "never record secrets"; the issue: no tokens or passwords): OAuth credentials
  // in a FHIR URL or form (RFC 6749 §2.3.1, §6; RFC 7523), also percent-encoded or in other case, are left out
  it('the query never keeps a client secret, refresh/id token, client assertion or password', () => {
    const q = 'name=x&client_secret=S1&refresh_token=S2&id_token=S3&client_assertion=S4&password=S5&access%5Ftoken=S6&Client_Secret=S7&_count=1';
    expect(c('GET', '/Patient', q).query).toBe('name=x&_count=1');
    expect(c('PUT', '/Patient', `identifier=a|1&client_secret=S8`).query).toBe('identifier=a|1');
    expect(c('POST', '/Patient/_search', '', { client_secret: 'S9', password: 'S10', name: 'y' }).query).toBe('name=y');
    // `code` is a FHIR search parameter (Observation?code=…): kept
    expect(c('GET', '/Observation', 'code=http://loinc.org|8867-4').query).toBe('code=http://loinc.org|8867-4');
  });
});

describe('patientsInBody', () => {
  const base = 'http://h/fhir';
  it('finds the Patients of this server in a search result: its Patient entries and references to Patients', () => {
    const bundle = JSON.stringify({
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [
        { fullUrl: `${base}/Patient/a`, resource: { resourceType: 'Patient', id: 'a', link: [{ other: { reference: 'Patient/b' } }] } },
        { fullUrl: `${base}/Observation/o`, resource: { resourceType: 'Observation', id: 'o', subject: { reference: `${base}/Patient/c` } } },
        { fullUrl: `${base}/Observation/o2`, resource: { resourceType: 'Observation', id: 'o2', performer: [{ reference: 'Practitioner/d' }] } },
      ],
    });
    expect(patientsInBody(bundle, base).sort()).toEqual(['a', 'b', 'c']);
    expect(patientsInBody('{"resourceType":"Practitioner","id":"x"}', base)).toEqual([]);
    expect(patientsInBody('{"resourceType":"Patient","id":"x"}', base)).toEqual(['x']);
  });

  it('reads a versioned reference as its Patient, whitespace as _pretty writes it', () => {
    expect(patientsInBody('{"subject":{"reference":"Patient/x/_history/2"}}', base)).toEqual(['x']);
    expect(patientsInBody(`{"subject":{"reference":"${base}/Patient/y/_history/3"}}`, base)).toEqual(['y']);
    expect(patientsInBody('{\n  "resourceType" : "Patient",\n  "id" : "z",\n  "link": [{"other": {"reference" : "Patient/w"}}]}', base).sort()).toEqual(['w', 'z']);
    expect(patientsInBody('{"subject":{"reference":"Patient/x/_history/2/extra"}}', base)).toEqual([]);
  });

  it('does not count contained Patients, other servers, URNs or identifiers', () => {
    const obs = JSON.stringify({
      resourceType: 'Observation',
      id: 'o',
      contained: [{ resourceType: 'Patient', id: 'p1' }],
      subject: { reference: '#p1' },
      performer: [{ reference: 'http://other/fhir/Patient/x' }, { reference: 'urn:uuid:0b7cbbd5-1b2f-4a8d-9f68-1d1e4f1a2b3c' }],
      identifier: [{ system: 'http://h/fhir/Patient/sys', value: 'Patient/v' }],
      focus: [{ identifier: { value: 'Patient/q' } }],
    });
    expect(patientsInBody(obs, base)).toEqual([]);
  });

  it("reads a stored Bundle's relative references on its entries' base (bundle.html#references)", () => {
    const doc = JSON.stringify({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'http://other/fhir/Patient/a', resource: { resourceType: 'Patient', id: 'a' } },
        { fullUrl: 'http://other/fhir/Observation/o', resource: { resourceType: 'Observation', subject: { reference: 'Patient/a' } } },
        { fullUrl: 'urn:uuid:0b7cbbd5-1b2f-4a8d-9f68-1d1e4f1a2b3c', resource: { resourceType: 'Observation', subject: { reference: 'Patient/b' } } },
        { fullUrl: `${base}/Observation/o3`, resource: { resourceType: 'Observation', subject: { reference: 'Patient/c' } } },
      ],
    });
    expect(patientsInBody(doc, base).sort()).toEqual(['b', 'c']);
  });

  it('is bounded', () => {
    const many = JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ reference: `Patient/p${i}` })));
    expect(patientsInBody(many, base, 100)).toHaveLength(100);
  });
});

import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids } from './search-helpers';

// R4 search.html#escaping: `\` escapes only `,` `$` `|` and itself in a parameter value; and a query
// string must be percent-encoded (RFC 3986 §2.1). A value that breaks either is malformed: 400 with an
// OperationOutcome naming the parameter, also under `Prefer: handling=lenient` (search.html#errors:
// lenient is about parameters the server does not know or support, not about invalid values).
describe('malformed query strings (search.html#escaping, #errors)', () => {
  let t: TestApp;
  let id: string;
  beforeAll(async () => {
    t = await startTestApp();
    id = await create(t, { resourceType: 'Patient', name: [{ family: 'Back\\slash, Comma' }] });
  });
  afterAll(async () => t.close());

  const refused = (body: any, name: string) => {
    expect(body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(body.issue)).toContain(name);
  };

  it.each(['name=%E0%A4%A', 'name=%zz', 'name=a%', 'na%zzme=x', 'name=%C3%28'])('GET Patient?%s is 400 (bad percent-encoding), lenient too', async (q) => {
    for (const prefer of [undefined, 'handling=lenient']) {
      const req = t.http.get(`/fhir/Patient?${q}`); // Patient?… is the direct route (outside Nest)
      if (prefer) req.set('Prefer', prefer);
      const res = await req;
      expect(res.status).toBe(400);
      refused(res.body, q.startsWith('na%') ? 'na%zzme' : 'name');
    }
  });

  it('the same on a system search, a compartment search and POST _search (form body and URL)', async () => {
    for (const path of ['/fhir?_type=Patient&name=%zz', `/fhir/Patient/${id}/Observation?code=%E0%A4%A`, '/fhir/Patient?_count=%zz']) {
      const res = await t.http.get(path);
      expect(res.status).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    for (const [path, body] of [
      ['/fhir/Patient/_search', 'name=%E0%A4%A'],
      ['/fhir/Patient/_search', 'gender=male&name=%zz'],
      ['/fhir/_search', '_type=Patient&name=%zz'],
      ['/fhir/Patient/_search?name=%zz', 'gender=male'],
      ['/fhir/AuditEvent/_search', 'agent-name=%zz'], // the audit trail reads form bodies the same way
    ]) {
      const res = await t.http.post(path).set('Content-Type', 'application/x-www-form-urlencoded').send(body);
      expect(res.status).toBe(400);
      refused(res.body, 'name');
    }
  });

  it('a well-formed form body is read as before (AuditEvent/_search too)', async () => {
    const form = (path: string, body: string) => t.http.post(path).set('Content-Type', 'application/x-www-form-urlencoded').send(body);
    const res = await form('/fhir/Patient/_search', `_id=${id}&name=back+%5C%5Cslash`);
    expect(res.status).toBe(200);
    expect(res.body.total ?? res.body.entry?.length ?? 0).toBe(0); // `+` is a space: "back \slash"
    const found = await form('/fhir/Patient/_search', `_id=${id}&name=Back%5C%5Cslash`);
    expect(found.body.entry.map((e: any) => e.resource.id)).toEqual([id]);
    const trail = await form('/fhir/AuditEvent/_search', '_count=1');
    expect(trail.status).toBe(200);
    expect(trail.body.entry).toHaveLength(1);
  });

  it.each(['name=a\\b', 'name=back\\', 'identifier=urn:x\\|1\\n', 'birthdate=ge2020\\-01'])('%s: an escape other than \\, \\$ \\| \\\\ is 400, lenient too', async (q) => {
    for (const prefer of [undefined, 'handling=lenient']) {
      const req = t.http.get(`/fhir/Patient?${q.replace(/\\/g, '%5C')}`);
      if (prefer) req.set('Prefer', prefer);
      const res = await req;
      expect(res.status).toBe(400);
      refused(res.body, q.split('=')[0]);
    }
    const res = await t.http.post('/fhir/Patient/_search').set('Content-Type', 'application/x-www-form-urlencoded').send(q.replace(/\\/g, '%5C'));
    expect(res.status).toBe(400);
  });

  it('lenient ignores an unknown parameter whatever its value; strict names it unknown', async () => {
    const lenient = await t.http.get(`/fhir/Patient?_id=${id}&unknown-x=a%5Cb`).set('Prefer', 'handling=lenient');
    expect(lenient.status).toBe(200);
    expect(lenient.body.entry.filter((e: any) => e.search.mode === 'match')).toHaveLength(1);
    const strict = await t.http.get('/fhir/Patient?unknown-x=a%5Cb');
    expect(strict.status).toBe(400);
    expect(strict.body.issue[0].diagnostics).toContain('unknown parameter');
  });

  it('the spec escapes still work; a well-formed percent-encoding is decoded as before', async () => {
    expect(await ids(t, 'Patient?name:exact=Back%5C%5Cslash%5C%2C%20Comma')).toEqual([id]);
    expect(await ids(t, 'Patient?name=back%5C%5Cslash')).toEqual([id]);
    expect(await ids(t, 'Patient?name=back+%5C%5Cslash')).toEqual([]); // `+` is a space: "back \slash"
    expect(await ids(t, `Patient?_id=${id}&name=%E2%82%AC`)).toEqual([]); // valid UTF-8 (€), no match
    // _filter has its own syntax (search_filter.html: JSON strings with their own escapes)
    expect(await ids(t, `Patient?_filter=${encodeURIComponent('family eq "Back\\\\slash, Comma"')}`)).toEqual([id]);
  });
});

import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids } from './search-helpers';

// AuditEvent is served from the audit trail (src/audit), not from the resource tables search reads.
// search.html#errors: a server refuses what it cannot answer rather than answer nothing; so a search
// that names AuditEvent as a type to search (`_type`, search.html#all), to include (#include, #revinclude),
// to chain to (#chaining) or to reverse-chain from (#has) is 400, pointing to GET /fhir/AuditEvent.
describe('searches naming AuditEvent (search.html#include, #has, _type)', () => {
  let t: TestApp;
  let patient: string;
  beforeAll(async () => {
    t = await startTestApp();
    patient = await create(t, { resourceType: 'Patient', name: [{ family: 'Audited' }] });
    await t.http.get(`/fhir/Patient/${patient}`); // the read is audited: AuditEvents exist
  });
  afterAll(async () => t.close());

  it.each([
    '?_type=AuditEvent',
    '?_type=Patient,AuditEvent&_id=x',
    '/Patient?_revinclude=AuditEvent:patient',
    '/Patient?_revinclude=AuditEvent:entity',
    '/Provenance?_include=Provenance:target:AuditEvent',
    '/Provenance?_include=AuditEvent:agent',
    '/Patient?_has:AuditEvent:patient:action=R',
    '/Provenance?target:AuditEvent.action=R',
    '/Provenance?target.altid=x', // AuditEvent is the only target with `altid`
    '/Patient/PID/*?_type=AuditEvent',
  ])('GET /fhir%s is 400 and points to GET /fhir/AuditEvent (lenient too)', async (q) => {
    for (const prefer of [undefined, 'handling=lenient']) {
      const req = t.http.get(`/fhir${q.replace('PID', patient)}`);
      if (prefer) req.set('Prefer', prefer);
      const res = await req;
      expect(res.status).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].diagnostics).toContain('GET /fhir/AuditEvent');
    }
  });

  it('POST _search with _type=AuditEvent too; the audit trail itself answers', async () => {
    const res = await t.http.post('/fhir/_search').set('Content-Type', 'application/x-www-form-urlencoded').send('_type=AuditEvent');
    expect(res.status).toBe(400);
    const trail = await t.http.get(`/fhir/AuditEvent?patient=Patient/${patient}`);
    expect(trail.status).toBe(200);
    expect(trail.body.entry?.length).toBeGreaterThan(0);
  });

  it('what does not name AuditEvent is unchanged: `*` includes, every type, the compartment', async () => {
    expect(await ids(t, `Patient?_id=${patient}&_revinclude=*`)).toEqual([patient]);
    expect((await t.http.get(`/fhir?_id=${patient}`)).status).toBe(200);
    expect((await t.http.get(`/fhir/Patient/${patient}/*`)).status).toBe(200);
    expect((await t.http.get('/fhir/Provenance?target.action=R')).status).toBe(200); // Consent has `action` too
  });
});

import { startTestApp, TestApp } from '../../helpers/test-app';

// R4 http.html §3.1.0.7.1 conditional delete: "multiple" when the server is configured for it
describe('conditional delete of several resources (CONDITIONAL_DELETE_MAX=3)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ CONDITIONAL_DELETE_MAX: '3' });
  });
  afterAll(async () => t.close());

  const SYS = 'http://example.org/mrn';
  const url = (value: string) => `/fhir/Patient?identifier=${encodeURIComponent(`${SYS}|${value}`)}`;
  const add = (value: string) => t.http.post('/fhir/Patient').send({ resourceType: 'Patient', identifier: [{ system: SYS, value }] });

  it('deletes every match up to the limit, and says how many', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await add('many')).body.id);
    const res = await t.http.delete(url('many')).set('Prefer', 'return=OperationOutcome');
    expect(res.status).toBe(200);
    expect(res.body.issue[0].diagnostics).toMatch(/deleted 3 /);
    expect((await t.http.get(url('many'))).body.entry ?? []).toHaveLength(0);
    for (const id of ids) expect((await t.http.get(`/fhir/Patient/${id}`)).status).toBe(410);
  });

  it('more matches than the limit is 412 and deletes nothing', async () => {
    for (let i = 0; i < 4; i++) await add('toomany');
    expect((await t.http.delete(url('toomany'))).status).toBe(412);
    expect((await t.http.get(url('toomany'))).body.entry).toHaveLength(4);
  });

  it('the CapabilityStatement says conditionalDelete multiple', async () => {
    const cs = (await t.http.get('/fhir/metadata')).body;
    expect(cs.rest[0].resource.find((r: any) => r.type === 'Patient').conditionalDelete).toBe('multiple');
  });
});

import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

// R4 http.html §3.1.0.11.1 batch processing rules: entries are independent, each with its own status
describe('batch Bundles (http.html §3.1.0.11.1)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const batch = (entry: unknown[]) =>
    t.http.post('/fhir').set('Content-Type', FHIR_JSON).send({ resourceType: 'Bundle', type: 'batch', entry });
  const patient = (family: string) => ({ resourceType: 'Patient', name: [{ family }] });

  it('a bad entry does not stop the others; each entry has its own status and outcome', async () => {
    const existing = (await t.http.post('/fhir/Patient').send(patient('Existing'))).body;
    const res = await batch([
      { resource: patient('One'), request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Patient', birthDate: 'soon' }, request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'GET', url: `Patient/${existing.id}` } },
      { request: { method: 'GET', url: 'Patient/unknown-id' } },
      { resource: { ...existing, active: true }, request: { method: 'PUT', url: `Patient/${existing.id}` } },
      { request: { method: 'DELETE', url: 'Patient/unknown-id' } },
      { resource: patient('Two'), request: { method: 'POST', url: 'NoSuchType' } },
      { request: { method: 'PUT', url: 'Patient/x' } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    const statuses = res.body.entry.map((e: any) => e.response.status.split(' ')[0]);
    expect(statuses[0]).toBe('201');
    expect(['400', '422']).toContain(statuses[1]);
    // (entry 5: a DELETE of an id that never existed is done, http.html#delete)
    expect(statuses.slice(2)).toEqual(['200', '404', '200', '204', '404', '400']);
    for (const i of [1, 3, 6, 7]) {
      expect(res.body.entry[i].response.outcome.resourceType).toBe('OperationOutcome');
      expect(res.body.entry[i].response.outcome.issue[0].diagnostics).toMatch(new RegExp(`^Bundle\\.entry\\[${i}\\]`));
    }
    expect(res.body.entry[2].resource.id).toBe(existing.id);
    // the good writes happened
    const one = res.body.entry[0].response.location.split('/_history')[0];
    expect((await t.http.get(`/fhir/${one}`)).body.name[0].family).toBe('One');
    expect((await t.http.get(`/fhir/Patient/${existing.id}`)).body.active).toBe(true);
  });

  it('entries are independent: two updates of one resource both apply, in order', async () => {
    const p = (await t.http.post('/fhir/Patient').send(patient('Seq'))).body;
    const res = await batch([
      { resource: { ...p, gender: 'male' }, request: { method: 'PUT', url: `Patient/${p.id}` } },
      { resource: { ...p, gender: 'female' }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch: 'W/"2"' } },
    ]);
    expect(res.body.entry.map((e: any) => e.response.etag)).toEqual(['W/"2"', 'W/"3"']);
    expect((await t.http.get(`/fhir/Patient/${p.id}`)).body.gender).toBe('female');
  });

  it('references between batch entries are not resolved (no interdependencies in a batch)', async () => {
    const res = await batch([
      { fullUrl: 'urn:uuid:p', resource: patient('P'), request: { method: 'POST', url: 'Patient' } },
      {
        resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:p' } },
        request: { method: 'POST', url: 'Observation' },
      },
    ]);
    expect(res.body.entry[0].response.status).toBe('201 Created');
    expect(res.body.entry[1].response.status).toBe('400 Bad Request');
  });

  it('an empty batch answers an empty batch-response', async () => {
    const res = await batch([]);
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    expect(res.body.entry).toEqual([]);
  });
});

import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

// R4 http.html §3.1.0.11.2: conditional create/update/delete entries and conditional references in transactions
describe('conditional entries and references in Bundles (http.html §3.1.0.11.2)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const NPI = 'http://hl7.org/fhir/sid/us-npi';
  const post = (type: 'transaction' | 'batch', entry: unknown[]) =>
    t.http.post('/fhir').set('Content-Type', FHIR_JSON).send({ resourceType: 'Bundle', type, entry });
  const practitioner = (npi: string, family = 'Doc') => ({ resourceType: 'Practitioner', identifier: [{ system: NPI, value: npi }], name: [{ family }] });
  const obs = (subject: string, performer?: string) => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'x' },
    subject: { reference: subject },
    ...(performer ? { performer: [{ reference: performer }] } : {}),
  });
  const idOf = (e: any) => e.response.location.split('/')[1];
  const search = async (q: string) => (await t.http.get(`/fhir/${q}`)).body.entry ?? [];

  it('ifNoneExist: a match makes the entry a no-op (200) and references to its fullUrl point at the existing resource', async () => {
    const existing = (await t.http.post('/fhir/Practitioner').send(practitioner('111'))).body;
    const res = await post('transaction', [
      { fullUrl: 'urn:uuid:doc', resource: practitioner('111', 'Other'), request: { method: 'POST', url: 'Practitioner', ifNoneExist: `identifier=${NPI}|111` } },
      { fullUrl: 'urn:uuid:pat', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
      { resource: obs('urn:uuid:pat', 'urn:uuid:doc'), request: { method: 'POST', url: 'Observation' } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('200 OK');
    expect(idOf(res.body.entry[0])).toBe(existing.id);
    const o = (await t.http.get(`/fhir/Observation/${idOf(res.body.entry[2])}`)).body;
    expect(o.performer[0].reference).toBe(`Practitioner/${existing.id}`);
    expect(await search(`Practitioner?identifier=${NPI}|111`)).toHaveLength(1);
  });

  it('two entries with the same ifNoneExist create one resource (processed in order)', async () => {
    const res = await post('transaction', [
      { fullUrl: 'urn:uuid:a', resource: practitioner('222'), request: { method: 'POST', url: 'Practitioner', ifNoneExist: `identifier=${NPI}|222` } },
      { fullUrl: 'urn:uuid:b', resource: practitioner('222'), request: { method: 'POST', url: 'Practitioner', ifNoneExist: `identifier=${NPI}|222` } },
    ]);
    expect(res.body.entry.map((e: any) => e.response.status)).toEqual(['201 Created', '200 OK']);
    expect(idOf(res.body.entry[1])).toBe(idOf(res.body.entry[0]));
    expect(await search(`Practitioner?identifier=${NPI}|222`)).toHaveLength(1);
  });

  it('conditional references resolve to their one match', async () => {
    const doc = (await t.http.post('/fhir/Practitioner').send(practitioner('333'))).body;
    const res = await post('transaction', [
      { fullUrl: 'urn:uuid:p', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
      { resource: obs('urn:uuid:p', `Practitioner?identifier=${NPI}|333`), request: { method: 'POST', url: 'Observation' } },
    ]);
    expect(res.status).toBe(200);
    const o = (await t.http.get(`/fhir/Observation/${idOf(res.body.entry[1])}`)).body;
    expect(o.performer[0].reference).toBe(`Practitioner/${doc.id}`);
  });

  it('a conditional reference with no match or several matches fails the whole transaction, naming the entry', async () => {
    await t.http.post('/fhir/Practitioner').send(practitioner('444'));
    await t.http.post('/fhir/Practitioner').send(practitioner('444'));
    const before = (await t.http.get('/fhir/Patient/_history?_count=1000')).body.entry.length;
    for (const npi of ['none', '444']) {
      const res = await post('transaction', [
        { fullUrl: 'urn:uuid:p', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { resource: obs('urn:uuid:p', `Practitioner?identifier=${NPI}|${npi}`), request: { method: 'POST', url: 'Observation' } },
      ]);
      expect(res.status).toBe(412);
      expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[1\]: conditional reference Practitioner\?identifier=/);
    }
    expect((await t.http.get('/fhir/Patient/_history?_count=1000')).body.entry.length).toBe(before);
  });

  it('conditional update and conditional delete entries', async () => {
    const gone = (await t.http.post('/fhir/Practitioner').send(practitioner('555'))).body;
    const res = await post('transaction', [
      { resource: practitioner('666', 'Created'), request: { method: 'PUT', url: `Practitioner?identifier=${NPI}|666` } },
      { request: { method: 'DELETE', url: `Practitioner?identifier=${NPI}|555` } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: any) => e.response.status)).toEqual(['201 Created', '204 No Content']);
    expect((await t.http.get(`/fhir/Practitioner/${gone.id}`)).status).toBe(410);
    const again = await post('transaction', [
      { resource: practitioner('666', 'Updated'), request: { method: 'PUT', url: `Practitioner?identifier=${NPI}|666` } },
    ]);
    expect(again.body.entry[0].response.status).toBe('200 OK');
    expect(again.body.entry[0].response.etag).toBe('W/"2"');
    expect((await search(`Practitioner?identifier=${NPI}|666`))[0].resource.name[0].family).toBe('Updated');
  });

  it('a deleted resource no longer satisfies a condition later in the same transaction (deletes come first)', async () => {
    await t.http.post('/fhir/Practitioner').send(practitioner('777', 'Old'));
    const res = await post('transaction', [
      { resource: practitioner('777', 'New'), request: { method: 'POST', url: 'Practitioner', ifNoneExist: `identifier=${NPI}|777` } },
      { request: { method: 'DELETE', url: `Practitioner?identifier=${NPI}|777` } },
    ]);
    expect(res.body.entry.map((e: any) => e.response.status)).toEqual(['201 Created', '204 No Content']);
    const now = await search(`Practitioner?identifier=${NPI}|777`);
    expect(now.map((e: any) => e.resource.name[0].family)).toEqual(['New']);
  });

  it('batch with ifNoneExist entries, as Synthea practitioner bundles send them, is idempotent', async () => {
    const entries = ['888', '999', '888'].map((npi) => ({
      resource: practitioner(npi),
      request: { method: 'POST', url: 'Practitioner', ifNoneExist: `identifier=${NPI}|${npi}` },
    }));
    const first = await post('batch', entries);
    expect(first.body.entry.map((e: any) => e.response.status)).toEqual(['201 Created', '201 Created', '200 OK']);
    const second = await post('batch', entries);
    expect(second.body.entry.map((e: any) => e.response.status)).toEqual(['200 OK', '200 OK', '200 OK']);
    expect(await search(`Practitioner?identifier=${NPI}|888`)).toHaveLength(1);
  });
});

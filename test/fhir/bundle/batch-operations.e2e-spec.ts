import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

/**
 * Operations as batch entries (http.html §3.1.0.11: "each entry … as if it were a separate
 * request"; operations.html#executing: the operation URLs at system, type and instance level).
 * The oracle is the same request over REST: the entry's status and resource are what the REST
 * request answers. Inside a transaction an operation is refused: it would run outside the
 * transaction's database work.
 */
describe('operations inside a batch (http.html §3.1.0.11, operations.html)', () => {
  let t: TestApp;
  let patient: string;
  beforeAll(async () => {
    t = await startTestApp();
    patient = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Batchop' }] })).body.id;
    for (const code of ['8867-4', '8302-2']) {
      await t.http.post('/fhir/Observation').send({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code }] },
        subject: { reference: `Patient/${patient}` },
        effectiveDateTime: '2024-01-01',
        valueQuantity: { value: 70, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      });
    }
  });
  afterAll(async () => t.close());

  const batch = (entry: object[], type = 'batch') => t.http.post('/fhir').set('Content-Type', FHIR_JSON).send({ resourceType: 'Bundle', type, entry });
  const status = (e: any) => Number.parseInt(e.response.status, 10);
  const ids = (b: any) => (b.entry ?? []).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
  const invalidObservation = { resourceType: 'Observation', code: { text: 'no status' } };

  it('GET and POST operation entries answer what the same REST requests answer', async () => {
    const everything = `Patient/${patient}/$everything`;
    const res = await batch([
      { request: { method: 'GET', url: everything } },
      { resource: invalidObservation, request: { method: 'POST', url: 'Observation/$validate' } },
      { request: { method: 'GET', url: `Patient/${patient}/$meta` } },
      { request: { method: 'GET', url: 'Observation/$lastn?max=1&patient=' + patient } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    const [e0, e1, e2, e3] = res.body.entry;

    const rest0 = await t.http.get(`/fhir/${everything}`);
    expect(status(e0)).toBe(rest0.status);
    expect(e0.resource.type).toBe('searchset');
    expect(ids(e0.resource)).toEqual(ids(rest0.body));
    expect(ids(e0.resource)).toHaveLength(3);

    const rest1 = await t.http.post('/fhir/Observation/$validate').set('Content-Type', FHIR_JSON).send(invalidObservation);
    expect(status(e1)).toBe(rest1.status);
    expect(e1.resource.resourceType).toBe('OperationOutcome');
    expect(e1.resource.issue.map((i: any) => [i.severity, i.code])).toEqual(rest1.body.issue.map((i: any) => [i.severity, i.code]));
    expect(e1.resource.issue.some((i: any) => i.severity === 'error')).toBe(true);

    const rest2 = await t.http.get(`/fhir/Patient/${patient}/$meta`);
    expect(status(e2)).toBe(200);
    expect(e2.resource).toEqual(rest2.body);

    const rest3 = await t.http.get(`/fhir/Observation/$lastn?max=1&patient=${patient}`);
    expect(status(e3)).toBe(rest3.status);
    expect(ids(e3.resource)).toEqual(ids(rest3.body));
  });

  it('an operation that writes ($meta-add) writes a new version, as over REST (resource-operation-meta-add.html)', async () => {
    const before = await t.http.get(`/fhir/Patient/${patient}`);
    const tag = { system: 'http://example.org/tags', code: `batch-${Date.now()}` };
    const res = await batch([
      {
        resource: { resourceType: 'Parameters', parameter: [{ name: 'meta', valueMeta: { tag: [tag] } }] },
        request: { method: 'POST', url: `Patient/${patient}/$meta-add` },
      },
    ]);
    expect(status(res.body.entry[0])).toBe(200);
    expect(res.body.entry[0].resource.parameter[0].valueMeta.tag).toEqual(expect.arrayContaining([tag]));
    const after = await t.http.get(`/fhir/Patient/${patient}`);
    expect(Number(after.body.meta.versionId)).toBe(Number(before.body.meta.versionId) + 1);
    expect(after.body.meta.tag).toEqual(expect.arrayContaining([tag]));
    const found = await t.http.get(`/fhir/Patient?_tag=${encodeURIComponent(`${tag.system}|${tag.code}`)}`);
    expect(ids(found.body)).toEqual([`Patient/${patient}`]);
  });

  it('each operation entry fails on its own with the status REST gives it; the other entries run', async () => {
    const res = await batch([
      { request: { method: 'GET', url: `Patient/${patient}/$meta-add` } }, // changes data: POST only (405)
      { request: { method: 'GET', url: 'Patient/$no-such-operation' } }, // 404
      { request: { method: 'POST', url: '$export' } }, // asynchronous: not a batch entry (400)
      { request: { method: 'GET', url: `Patient/${patient}/$everything/more` } }, // not an operation URL (400)
      { resource: { resourceType: 'Parameters' }, request: { method: 'PUT', url: `Patient/${patient}/$meta` } }, // 400
      { resource: [1], request: { method: 'POST', url: 'Patient/$validate' } }, // 400: not a resource
      { request: { method: 'GET', url: `Patient/${patient}/$meta` } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.entry.map(status)).toEqual([405, 404, 400, 400, 400, 400, 200]);
    expect((await t.http.get(`/fhir/Patient/${patient}/$meta-add`)).status).toBe(405);
    expect((await t.http.get('/fhir/Patient/$no-such-operation')).status).toBe(404);
    for (const e of res.body.entry.slice(0, 6)) {
      expect(e.response.outcome.resourceType).toBe('OperationOutcome');
      expect(e.response.outcome.issue[0].diagnostics).toMatch(/^Bundle\.entry\[\d\]/);
    }
  });

  it('a transaction with an operation entry is refused as a whole, naming the entry; nothing is written', async () => {
    const family = `Txop${Date.now()}`;
    const res = await batch(
      [
        { resource: { resourceType: 'Patient', name: [{ family }] }, request: { method: 'POST', url: 'Patient' } },
        { resource: invalidObservation, request: { method: 'POST', url: 'Observation/$validate' } },
      ],
      'transaction',
    );
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/Bundle\.entry\[1\].*operations run as batch entries/);
    expect((await t.http.get(`/fhir/Patient?family=${family}`)).body.entry ?? []).toHaveLength(0);
  });
});

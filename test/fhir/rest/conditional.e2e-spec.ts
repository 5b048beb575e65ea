import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

// R4 http.html §3.1.0.8 conditional create, §3.1.0.4.3 conditional update, §3.1.0.5 conditional patch,
// §3.1.0.7.1 conditional delete
describe('conditional interactions (http.html)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const SYS = 'http://example.org/mrn';
  const withId = (value: string, extra: object = {}) => ({ resourceType: 'Patient', identifier: [{ system: SYS, value }], ...extra });
  const create = (value: string, condition = `identifier=${SYS}|${value}`) =>
    t.http.post('/fhir/Patient').set('If-None-Exist', condition).send(withId(value));
  const count = async (value: string) => (await t.http.get(`/fhir/Patient?identifier=${encodeURIComponent(`${SYS}|${value}`)}`)).body.entry?.length ?? 0;

  it('conditional create: 201 when nothing matches, 200 with the existing resource when one does (§3.1.0.8)', async () => {
    const first = await create('c1');
    expect(first.status).toBe(201);
    const again = await create('c1');
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.etag).toBe('W/"1"');
    expect(await count('c1')).toBe(1);
  });

  it('conditional create: several matches is 412', async () => {
    await t.http.post('/fhir/Patient').send(withId('dup'));
    await t.http.post('/fhir/Patient').send(withId('dup'));
    const res = await create('dup');
    expect(res.status).toBe(412);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(await count('dup')).toBe(2);
  });

  it('20 parallel identical conditional creates make exactly one resource', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => create('race')));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(19);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await count('race')).toBe(1);
  });

  it('conditional update: creates when nothing matches, updates the one match, 412 on several (§3.1.0.4.3)', async () => {
    const url = `/fhir/Patient?identifier=${encodeURIComponent(`${SYS}|u1`)}`;
    const created = await t.http.put(url).send(withId('u1', { active: false }));
    expect(created.status).toBe(201);
    const updated = await t.http.put(url).send(withId('u1', { active: true }));
    expect(updated.status).toBe(200);
    expect(updated.body.id).toBe(created.body.id);
    expect(updated.body.meta.versionId).toBe('2');
    expect(updated.headers.location).toBe(`${t.baseUrl}/Patient/${created.body.id}/_history/2`);
    const wrongId = await t.http.put(url).send(withId('u1', { id: 'other-id' }));
    expect(wrongId.status).toBe(400);
    await t.http.post('/fhir/Patient').send(withId('u2'));
    await t.http.post('/fhir/Patient').send(withId('u2'));
    expect((await t.http.put(`/fhir/Patient?identifier=${encodeURIComponent(`${SYS}|u2`)}`).send(withId('u2'))).status).toBe(412);
    expect((await t.http.put('/fhir/Patient').send(withId('u3'))).status).toBe(400);
    const stale = await t.http.put(url).set('If-Match', 'W/"1"').send(withId('u1'));
    expect(stale.status).toBe(412);
  });

  it('parallel conditional updates with the same condition create one resource and update it', async () => {
    const url = `/fhir/Patient?identifier=${encodeURIComponent(`${SYS}|u-race`)}`;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => t.http.put(url).send(withId('u-race', { birthDate: `20${10 + i}-01-01` }))));
    expect(results.map((r) => r.status).filter((s) => s === 201)).toHaveLength(1);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(results.map((r) => Number(r.body.meta.versionId)).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await count('u-race')).toBe(1);
  });

  it('conditional patch: patches the one match; none is 404, several 412 (§3.1.0.5)', async () => {
    const p = (await create('p1')).body;
    const patch = (value: string) =>
      t.http
        .patch(`/fhir/Patient?identifier=${encodeURIComponent(`${SYS}|${value}`)}`)
        .set('Content-Type', 'application/json-patch+json')
        .send(JSON.stringify([{ op: 'add', path: '/gender', value: 'other' }]));
    const ok = await patch('p1');
    expect(ok.status).toBe(200);
    expect(ok.body.id).toBe(p.id);
    expect(ok.body.gender).toBe('other');
    expect((await patch('nobody')).status).toBe(404);
    expect((await patch('dup')).status).toBe(412);
  });

  it('conditional delete: deletes the one match, no match is 204, several are 412 unless enabled (§3.1.0.7.1)', async () => {
    const p = (await create('d1')).body;
    const del = (value: string) => t.http.delete(`/fhir/Patient?identifier=${encodeURIComponent(`${SYS}|${value}`)}`);
    const res = await del('d1');
    expect(res.status).toBe(204);
    expect(res.headers.etag).toBe('W/"2"');
    expect((await t.http.get(`/fhir/Patient/${p.id}`)).status).toBe(410);
    expect((await del('d1')).status).toBe(204);
    expect((await del('dup')).status).toBe(412);
    expect(await count('dup')).toBe(2);
  });

  it('the CapabilityStatement declares what is supported', async () => {
    const cs = (await t.http.get('/fhir/metadata').set('Accept', FHIR_JSON)).body;
    const patient = cs.rest[0].resource.find((r: any) => r.type === 'Patient');
    expect(patient.conditionalCreate).toBe(true);
    expect(patient.conditionalUpdate).toBe(true);
    expect(patient.conditionalDelete).toBe('single');
    const system = cs.rest[0].interaction.map((i: any) => i.code);
    expect(system).toEqual(expect.arrayContaining(['transaction', 'batch', 'history-system']));
  });
});

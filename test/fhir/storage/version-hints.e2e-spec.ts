import { startTestApp, TestApp } from '../../helpers/test-app';

/**
 * An update of a resource whose version this process knows (src/fhir/storage/version-hints.ts) is
 * written at once, guarded by that version; a stale hint must never change the outcome
 * (http.html §3.1.0.4 update: a new version each time, none lost; §3.1.0.5.1 If-Match: 412 unless
 * current; update of a deleted resource re-creates it: 201). Bundles write without touching the
 * hints, so they make them stale as another server process would.
 */
describe('updates from the version hint', () => {
  let t: TestApp;
  let reads: number;
  beforeAll(async () => {
    t = await startTestApp();
    // count the current-version look-ups a request makes (every statement still runs)
    const query = t.db.query.bind(t.db);
    jest.spyOn(t.db, 'query').mockImplementation(((text: any, values?: unknown[]) => {
      const sql = typeof text === 'string' ? text : text?.text;
      if (/FROM resource WHERE resource_type = \$1 AND id = \$2/.test(sql ?? '')) reads++;
      return query(text, values);
    }) as any);
  });
  afterAll(async () => t.close());

  const patient = (id: string, family: string) => ({ resourceType: 'Patient', id, name: [{ family }] });
  const put = (id: string, family: string, ifMatch?: string) => {
    const r = t.http.put(`/fhir/Patient/${id}`);
    return (ifMatch ? r.set('If-Match', ifMatch) : r).send(patient(id, family));
  };
  const bundle = (entry: object) => t.http.post('/fhir').send({ resourceType: 'Bundle', type: 'transaction', entry: [entry] });
  const measured = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
    reads = 0;
    const r = await fn();
    return [r, reads];
  };

  it('a known version is updated without reading it first; stale hints fall back to the usual path', async () => {
    const id = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient' })).body.id;
    const [v2, reads2] = await measured(() => put(id, 'Two'));
    expect([v2.status, v2.body.meta.versionId, reads2]).toEqual([200, '2', 0]);
    const [v3, reads3] = await measured(() => put(id, 'Three', 'W/"2"'));
    expect([v3.status, v3.body.meta.versionId, reads3]).toEqual([200, '3', 0]);
    // If-Match of another version than the hint: decided by the usual path
    expect((await put(id, 'Stale', 'W/"2"')).status).toBe(412);

    // another writer (a Bundle) makes version 4: the hint (3) is stale
    expect((await bundle({ resource: patient(id, 'Four'), request: { method: 'PUT', url: `Patient/${id}` } })).status).toBe(200);
    const [v5, reads5] = await measured(() => put(id, 'Five'));
    expect([v5.status, v5.body.meta.versionId, reads5]).toEqual([200, '5', 1]);
    // once stale, no more hints for it: no empty statement every time several writers take turns
    const [v6, reads6] = await measured(() => put(id, 'Six'));
    expect([v6.status, v6.body.meta.versionId, reads6]).toEqual([200, '6', 1]);

    const history = await t.http.get(`/fhir/Patient/${id}/_history?_count=50`);
    expect(history.body.entry.map((e: any) => Number(e.resource.meta.versionId)).sort((a: number, b: number) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await t.http.get(`/fhir/Patient/${id}`)).body.name[0].family).toBe('Six');
  });

  it('a resource deleted by another writer while the hint says it is live is re-created (201)', async () => {
    const id = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient' })).body.id;
    expect((await put(id, 'Two')).status).toBe(200);
    expect((await bundle({ request: { method: 'DELETE', url: `Patient/${id}` } })).status).toBe(200);
    const again = await put(id, 'Four');
    expect([again.status, again.body.meta.versionId]).toEqual([201, '4']);
    expect((await t.http.get(`/fhir/Patient/${id}`)).body.name[0].family).toBe('Four');
  });

  it('parallel updates of one resource: every one gets its own version, none lost', async () => {
    const id = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient' })).body.id;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => put(id, `P${i}`)));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    const versions = answers.map((r) => Number(r.body.meta.versionId)).sort((a, b) => a - b);
    expect(versions).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    const current = await t.http.get(`/fhir/Patient/${id}`);
    expect(current.body.meta.versionId).toBe('21');
    expect(answers.find((r) => r.body.meta.versionId === '21')!.body.name[0].family).toBe(current.body.name[0].family);
  });
});

import { startTestApp, TestApp } from '../../helpers/test-app';

/**
 * An update replaces only the search index rows that changed (src/fhir/storage/row-key.ts): the
 * rows left must be exactly those a fresh write of the same content makes, so every search
 * answers as after delete-and-reinsert (search.html: the index reflects the current version only;
 * history rows are not indexed).
 */
describe('index rows kept across updates', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const patient = (id: string | undefined, given: string, gender: string) => ({
    resourceType: 'Patient',
    ...(id ? { id } : {}),
    identifier: [{ system: 'urn:row-key', value: 'kept-1' }],
    name: [{ family: 'Rowkeyfamily', given: [given] }],
    gender,
  });
  /** (param, value) rows of a resource, sorted; ctid tells a kept row from a rewritten one */
  const rows = async (id: string) =>
    (
      await t.db.query(
        `SELECT param, coalesce(value, '') AS value, ctid::text AS ctid, row_key FROM search_index
          WHERE resource_type = 'Patient' AND resource_id = $1 ORDER BY param, value`,
        [id],
      )
    ).rows;
  const ids = async (query: string) => ((await t.http.get(`/fhir/Patient?${query}`)).body.entry ?? []).map((e: any) => e.resource.id).sort();

  it('keeps the unchanged rows, replaces the changed ones, and matches a fresh write', async () => {
    const id = (await t.http.post('/fhir/Patient').send(patient(undefined, 'Firstgiven', 'female'))).body.id;
    const before = await rows(id);
    expect((await t.http.put(`/fhir/Patient/${id}`).send(patient(id, 'Secondgiven', 'male'))).status).toBe(200);
    const after = await rows(id);

    const ctid = (rs: any[], param: string, value: string) => rs.find((r) => r.param === param && r.value === value)?.ctid;
    // unchanged values: the very same rows
    expect(ctid(after, 'identifier', 'kept-1')).toBe(ctid(before, 'identifier', 'kept-1'));
    expect(ctid(after, 'family', 'rowkeyfamily')).toBe(ctid(before, 'family', 'rowkeyfamily'));
    // changed values: the old rows gone, the new ones there
    expect(ctid(after, 'given', 'firstgiven')).toBeUndefined();
    expect(ctid(after, 'given', 'secondgiven')).toBeDefined();
    expect(ctid(after, 'gender', 'female')).toBeUndefined();

    // the same (param, value) rows as a fresh create of the same content, none twice
    const fresh = (await t.http.post('/fhir/Patient').send(patient(undefined, 'Secondgiven', 'male'))).body.id;
    const pairs = (rs: any[]) => rs.map((r) => `${r.param}=${r.value}`);
    expect(pairs(after)).toEqual(pairs(await rows(fresh)));
    expect(new Set(pairs(after)).size).toBe(after.length);

    // searches see the current version only
    expect(await ids('given=Secondgiven&identifier=urn:row-key|kept-1')).toEqual([fresh, id].sort());
    expect(await ids(`given=Firstgiven&_id=${id}`)).toEqual([]);
    expect(await ids(`gender=male&_id=${id}`)).toEqual([id]);
  });

  it('rows written without a key (before the migration) are all replaced at the next update', async () => {
    const id = (await t.http.post('/fhir/Patient').send(patient(undefined, 'Legacygiven', 'female'))).body.id;
    await t.db.query(`UPDATE search_index SET row_key = NULL WHERE resource_type = 'Patient' AND resource_id = $1`, [id]);
    expect((await t.http.put(`/fhir/Patient/${id}`).send(patient(id, 'Legacygiven', 'female'))).status).toBe(200);
    const after = await rows(id);
    expect(after.every((r: any) => r.row_key !== null)).toBe(true);
    expect(new Set(after.map((r: any) => `${r.param}=${r.value}`)).size).toBe(after.length);
    expect(await ids(`given=Legacygiven&_id=${id}`)).toEqual([id]);
  });

  it('a transaction of many updates keeps and replaces the rows of each resource (one statement, set-based)', async () => {
    const n = 200;
    const tag = `rk${Date.now()}`;
    const bundle = (value: number) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: n }, (_, i) => ({
        resource: {
          resourceType: 'Observation',
          id: `${tag}-${i}`,
          status: 'final',
          code: { coding: [{ system: 'urn:row-key', code: tag }] },
          valueQuantity: { value: value + i, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' },
        },
        request: { method: 'PUT', url: `Observation/${tag}-${i}` },
      })),
    });
    const count = async (query: string) => (await t.http.get(`/fhir/Observation?code=urn:row-key|${tag}&${query}&_summary=count`)).body.total;
    expect((await t.http.post('/fhir').send(bundle(1000))).status).toBe(200);
    expect((await t.http.post('/fhir').send(bundle(5000))).status).toBe(200);
    expect(await count('value-quantity=ge5000')).toBe(n);
    expect(await count('value-quantity=lt5000')).toBe(0);
    const rows = await t.db.query(
      `SELECT count(*)::int AS n, count(DISTINCT (resource_id, param, value, nlow))::int AS d FROM search_index WHERE resource_type = 'Observation' AND resource_id LIKE $1`,
      [`${tag}-%`],
    );
    expect(rows.rows[0].n).toBe(rows.rows[0].d);
  });

  it('$reindex writes the keys too: the next update keeps the unchanged rows', async () => {
    const id = (await t.http.post('/fhir/Patient').send(patient(undefined, 'Reindexgiven', 'female'))).body.id;
    const r = await t.http
      .post('/fhir/$reindex')
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Parameters', parameter: [{ name: 'type', valueString: 'Patient' }] });
    expect(r.status).toBe(200);
    const reindexed = await rows(id);
    expect(reindexed.length).toBeGreaterThan(3);
    expect(reindexed.every((x: any) => x.row_key !== null)).toBe(true);
    expect((await t.http.put(`/fhir/Patient/${id}`).send(patient(id, 'Reindexgiven', 'male'))).status).toBe(200);
    const after = await rows(id);
    const ctid = (rs: any[], param: string, value: string) => rs.find((x) => x.param === param && x.value === value)?.ctid;
    expect(ctid(after, 'given', 'reindexgiven')).toBe(ctid(reindexed, 'given', 'reindexgiven'));
    expect(ctid(after, 'gender', 'male')).toBeDefined();
    expect(ctid(after, 'gender', 'female')).toBeUndefined();
  });

  it('a delete removes every row; a re-create writes them again', async () => {
    const id = (await t.http.post('/fhir/Patient').send(patient(undefined, 'Gonegiven', 'female'))).body.id;
    expect((await t.http.delete(`/fhir/Patient/${id}`)).status).toBe(204);
    expect(await rows(id)).toEqual([]);
    expect((await t.http.put(`/fhir/Patient/${id}`).send(patient(id, 'Gonegiven', 'female'))).status).toBe(201);
    expect(await ids(`given=Gonegiven&_id=${id}`)).toEqual([id]);
  });
});

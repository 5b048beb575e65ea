import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

// R4 RESTful API, http.html §3.1.0: create, read, vread, update, delete, patch
describe('RESTful interactions (http.html)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const patient = { resourceType: 'Patient', name: [{ family: 'Chalmers', given: ['Peter'] }], gender: 'male' };

  it('create assigns id and meta, ignores a client id, answers 201 with Location, ETag, Last-Modified (§3.1.0.8)', async () => {
    const res = await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ ...patient, id: 'client-chosen' });
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toMatch(/application\/fhir\+json/);
    expect(res.body.id).toBeDefined();
    expect(res.body.id).not.toBe('client-chosen');
    expect(res.body.meta.versionId).toBe('1');
    expect(res.headers.etag).toBe('W/"1"');
    expect(res.headers.location).toBe(`${t.baseUrl}/Patient/${res.body.id}/_history/1`);
    expect(new Date(res.headers['last-modified']).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const read = await t.http.get(`/fhir/Patient/${res.body.id}`);
    expect(read.status).toBe(200);
    expect(read.body.name).toEqual(patient.name);
    expect(read.body.meta.lastUpdated).toBe(res.body.meta.lastUpdated);
  });

  it('new ids are time-ordered UUIDs (RFC 9562 v7): creates, and creates in a transaction, append to the id indexes', async () => {
    const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const msOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    const a = await t.http.post('/fhir/Patient').send(patient);
    await new Promise((r) => setTimeout(r, 5));
    const tx = await t.http.post('/fhir').send({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ fullUrl: 'urn:uuid:5c1e3a4e-0000-4000-8000-000000000001', resource: patient, request: { method: 'POST', url: 'Patient' } }],
    });
    expect(tx.status).toBe(200);
    const b = tx.body.entry[0].response.location.split('/')[1];
    for (const [id, lastUpdated] of [[a.body.id, a.body.meta.lastUpdated], [b, tx.body.entry[0].response.lastModified]]) {
      expect(id).toMatch(V7);
      // the id's time is the version's lastUpdated, to the millisecond
      expect(msOf(id)).toBe(new Date(lastUpdated).getTime());
    }
    expect(b > a.body.id).toBe(true);
  });

  it('update makes a new version; vread returns each version (§3.1.0.4, §3.1.0.3)', async () => {
    const c = await t.http.post('/fhir/Patient').send(patient);
    const id = c.body.id;
    const u = await t.http.put(`/fhir/Patient/${id}`).send({ ...patient, id, gender: 'female' });
    expect(u.status).toBe(200);
    expect(u.body.meta.versionId).toBe('2');
    expect(u.headers.etag).toBe('W/"2"');
    const v1 = await t.http.get(`/fhir/Patient/${id}/_history/1`);
    expect(v1.status).toBe(200);
    expect(v1.body.gender).toBe('male');
    const v2 = await t.http.get(`/fhir/Patient/${id}/_history/2`);
    expect(v2.body.gender).toBe('female');
    expect((await t.http.get(`/fhir/Patient/${id}/_history/3`)).status).toBe(404);
  });

  it('update-as-create with a client id answers 201 (§3.1.0.4.1)', async () => {
    const res = await t.http.put('/fhir/Patient/my-own-id').send({ ...patient, id: 'my-own-id' });
    expect(res.status).toBe(201);
    expect(res.body.id).toBe('my-own-id');
    expect(res.headers.location).toBe(`${t.baseUrl}/Patient/my-own-id/_history/1`);
  });

  it('delete leaves a versioned tombstone: read 410, vread of older version still works (§3.1.0.7)', async () => {
    const c = await t.http.post('/fhir/Observation').send({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
    });
    const id = c.body.id;
    const d = await t.http.delete(`/fhir/Observation/${id}`);
    expect(d.status).toBe(204);
    // the deletion is version 2 (http.html#delete): its ETag, and its time (the history entry's) as Last-Modified
    expect(d.headers.etag).toBe('W/"2"');
    const h = await t.http.get(`/fhir/Observation/${id}/_history`);
    expect(d.headers['last-modified']).toBe(new Date(h.body.entry[0].response.lastModified).toUTCString());
    const r = await t.http.get(`/fhir/Observation/${id}`);
    expect(r.status).toBe(410);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect((await t.http.get(`/fhir/Observation/${id}/_history/1`)).status).toBe(200);
    expect((await t.http.get(`/fhir/Observation/${id}/_history/2`)).status).toBe(410);
    // a later update brings it back as version 3
    const back = await t.http.put(`/fhir/Observation/${id}`).send({ ...c.body, meta: undefined });
    expect(back.status).toBe(201);
    expect(back.body.meta.versionId).toBe('3');
  });

  it('read and vread take _summary and _elements (§3.1.0.2; search.html §3.1.1.5.9–10)', async () => {
    const text = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Peter Chalmers</div>' };
    const c = await t.http.post('/fhir/Patient').send({ ...patient, text, birthDate: '1974-12-25' });
    const subsetted = (r: any) => r.meta.tag?.some((x: any) => x.code === 'SUBSETTED');
    const elements = await t.http.get(`/fhir/Patient/${c.body.id}?_elements=gender`);
    expect(elements.status).toBe(200);
    expect(Object.keys(elements.body).sort()).toEqual(['gender', 'id', 'meta', 'resourceType']);
    expect(subsetted(elements.body)).toBe(true);
    expect(elements.headers.etag).toBe('W/"1"');
    const textOnly = await t.http.get(`/fhir/Patient/${c.body.id}?_summary=text`);
    expect(Object.keys(textOnly.body).sort()).toEqual(['id', 'meta', 'resourceType', 'text']);
    // Patient.text is not a summary element; name, gender and birthDate are
    const summary = await t.http.get(`/fhir/Patient/${c.body.id}/_history/1?_summary=true`);
    expect(summary.body.text).toBeUndefined();
    expect(summary.body).toMatchObject({ name: patient.name, gender: 'male', birthDate: '1974-12-25' });
    expect(subsetted(summary.body)).toBe(true);
    const full = await t.http.get(`/fhir/Patient/${c.body.id}`);
    expect(full.body.text).toEqual(text);
    expect(subsetted(full.body)).toBeFalsy();
    expect((await t.http.get(`/fhir/Patient/${c.body.id}?_summary=count`)).status).toBe(400);
    expect((await t.http.get(`/fhir/Patient/${c.body.id}?_elements=no-such!`)).status).toBe(400);
  });

  it('patch with JSON Patch (§3.1.0.5)', async () => {
    const c = await t.http.post('/fhir/Patient').send(patient);
    const res = await t.http
      .patch(`/fhir/Patient/${c.body.id}`)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/gender', value: 'other' }, { op: 'add', path: '/active', value: true }]));
    expect(res.status).toBe(200);
    expect(res.body.gender).toBe('other');
    expect(res.body.active).toBe(true);
    expect(res.body.meta.versionId).toBe('2');
    const failing = await t.http
      .patch(`/fhir/Patient/${c.body.id}`)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'test', path: '/gender', value: 'male' }]));
    expect(failing.status).toBe(422);
    const changeId = await t.http
      .patch(`/fhir/Patient/${c.body.id}`)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/id', value: 'other' }]));
    expect(changeId.status).toBe(422);
  });

  it('patch with FHIRPath Patch: a Parameters body as application/fhir+json (§3.1.0.5, fhirpatch.html)', async () => {
    const c = await t.http.post('/fhir/Patient').send({ ...patient, identifier: [{ system: 'http://a', value: '1' }, { system: 'http://b', value: '2' }] });
    const op = (type: string, path: string, more: object[] = []) => ({
      name: 'operation',
      part: [{ name: 'type', valueCode: type }, { name: 'path', valueString: path }, ...more],
    });
    const parameters = {
      resourceType: 'Parameters',
      parameter: [
        op('replace', 'Patient.gender', [{ name: 'value', valueCode: 'female' }]),
        op('add', 'Patient', [{ name: 'name', valueString: 'birthDate' }, { name: 'value', valueDate: '1974-12-25' }]),
        op('delete', "Patient.identifier.where(system = 'http://a')"),
        op('insert', 'Patient.name[0].given', [{ name: 'index', valueInteger: 0 }, { name: 'value', valueString: 'Jim' }]),
      ],
    };
    const res = await t.http.patch(`/fhir/Patient/${c.body.id}`).set('Content-Type', FHIR_JSON).send(parameters);
    expect(res.status).toBe(200);
    expect(res.body.gender).toBe('female');
    expect(res.body.birthDate).toBe('1974-12-25');
    expect(res.body.identifier).toEqual([{ system: 'http://b', value: '2' }]);
    expect(res.body.name[0].given).toEqual(['Jim', 'Peter']);
    expect(res.body.meta.versionId).toBe('2');
    // a path selecting nothing to replace: 422, nothing written
    const failing = await t.http
      .patch(`/fhir/Patient/${c.body.id}`)
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Parameters', parameter: [op('replace', 'Patient.deceasedBoolean', [{ name: 'value', valueBoolean: true }])] });
    expect(failing.status).toBe(422);
    expect(failing.body.issue[0].diagnostics).toMatch(/FHIRPath Patch operation 0/);
    // a result that is not a valid Patient (a code where a date belongs) is refused by validation
    const invalid = await t.http
      .patch(`/fhir/Patient/${c.body.id}`)
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Parameters', parameter: [op('replace', 'Patient.birthDate', [{ name: 'value', valueString: 'not a date' }])] });
    expect(invalid.status).toBeGreaterThanOrEqual(400);
    expect((await t.http.get(`/fhir/Patient/${c.body.id}`)).body.meta.versionId).toBe('2');
    const cs = await t.http.get('/fhir/metadata');
    expect(cs.body.patchFormat).toEqual(expect.arrayContaining(['application/json-patch+json', 'application/fhir+json']));
  });

  it('If-Match: stale version 412, current version succeeds (§3.1.0.4.2 managing contention)', async () => {
    const c = await t.http.post('/fhir/Patient').send(patient);
    const id = c.body.id;
    const stale = await t.http.put(`/fhir/Patient/${id}`).set('If-Match', 'W/"7"').send({ ...patient, id });
    expect(stale.status).toBe(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
    const ok = await t.http.put(`/fhir/Patient/${id}`).set('If-Match', 'W/"1"').send({ ...patient, id });
    expect(ok.status).toBe(200);
  });

  it('If-None-Match and If-Modified-Since answer 304 (§3.1.0.2 conditional read)', async () => {
    const c = await t.http.post('/fhir/Patient').send(patient);
    const id = c.body.id;
    expect((await t.http.get(`/fhir/Patient/${id}`).set('If-None-Match', 'W/"1"')).status).toBe(304);
    expect((await t.http.get(`/fhir/Patient/${id}`).set('If-None-Match', 'W/"0"')).status).toBe(200);
    const later = new Date(Date.now() + 5000).toUTCString();
    expect((await t.http.get(`/fhir/Patient/${id}`).set('If-Modified-Since', later)).status).toBe(304);
    const earlier = new Date(Date.now() - 3_600_000).toUTCString();
    expect((await t.http.get(`/fhir/Patient/${id}`).set('If-Modified-Since', earlier)).status).toBe(200);
  });

  it('Prefer: return=minimal | representation | OperationOutcome (§3.1.0.1.8)', async () => {
    const min = await t.http.post('/fhir/Patient').set('Prefer', 'return=minimal').send(patient);
    expect(min.status).toBe(201);
    expect(min.text).toBe('');
    expect(min.headers.location).toBeDefined();
    const oo = await t.http.post('/fhir/Patient').set('Prefer', 'return=OperationOutcome').send(patient);
    expect(oo.status).toBe(201);
    expect(oo.body.resourceType).toBe('OperationOutcome');
    const rep = await t.http.post('/fhir/Patient').set('Prefer', 'return=representation').send(patient);
    expect(rep.body.resourceType).toBe('Patient');
  });

  it('every error is an OperationOutcome with the right status', async () => {
    const cases: [Promise<any>, number][] = [
      [t.http.get('/fhir/NotAType/1'), 404],
      [t.http.get('/fhir/Patient/does-not-exist'), 404],
      [t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send('{"resourceType":'), 400],
      [t.http.post('/fhir/Patient').send({ resourceType: 'Observation' }), 400],
      [t.http.put('/fhir/Patient/abc').send({ resourceType: 'Patient', id: 'xyz' }), 400],
      [t.http.post('/fhir/Patient').set('Content-Type', 'application/xml').send('<Patient/>'), 415],
      // a form body is a search (POST [type]/_search) or operation parameters, never a resource to create
      [t.http.post('/fhir/Patient').type('form').send({ resourceType: 'Patient' }), 415],
      [t.http.get('/fhir/metadata').set('Accept', 'application/fhir+xml'), 406],
      [t.http.get('/fhir/metadata?_format=xml'), 406],
      [t.http.post('/fhir/Patient/abc'), 405],
    ];
    for (const [req, status] of cases) {
      const res = await req;
      expect({ url: res.req?.path, status: res.status }).toEqual({ url: res.req?.path, status });
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.text).not.toMatch(/at .*\.(js|ts):\d+/); // no stack trace
    }
  });

  it('a body above the limit answers 413', async () => {
    const big = { resourceType: 'Patient', text: { status: 'generated', div: 'x'.repeat(t.config.maxBodyBytes + 10) } };
    const res = await t.http.post('/fhir/Patient').send(big);
    expect(res.status).toBe(413);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('_pretty and _format=json', async () => {
    const res = await t.http.get('/fhir/metadata?_format=json&_pretty=true');
    expect(res.status).toBe(200);
    expect(res.text).toContain('\n  "resourceType"');
  });

  it('50 parallel updates with the same If-Match: exactly one wins, none lost (§3.1.0.4.2)', async () => {
    const c = await t.http.post('/fhir/Patient').send(patient);
    const id = c.body.id;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.http.put(`/fhir/Patient/${id}`).set('If-Match', 'W/"1"').send({ ...patient, id, birthDate: `19${10 + i}-01-01` }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(49);
    const winner = results.find((r) => r.status === 200)!;
    const read = await t.http.get(`/fhir/Patient/${id}`);
    expect(read.body.meta.versionId).toBe('2');
    expect(read.body.birthDate).toBe(winner.body.birthDate);
  });

  it('50 parallel updates without If-Match all land as distinct versions', async () => {
    const c = await t.http.post('/fhir/Patient').send(patient);
    const id = c.body.id;
    const results = await Promise.all(
      Array.from({ length: 50 }, () => t.http.put(`/fhir/Patient/${id}`).send({ ...patient, id })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const versions = new Set(results.map((r) => r.body.meta.versionId));
    expect(versions.size).toBe(50);
    const read = await t.http.get(`/fhir/Patient/${id}`);
    expect(read.body.meta.versionId).toBe('51');
  });
});

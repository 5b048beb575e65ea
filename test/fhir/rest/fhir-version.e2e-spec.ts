import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

/**
 * R4 http.html#version-parameter: the `fhirVersion` parameter of the FHIR media types names the
 * FHIR version of the content. This server answers in R4 only: another version asked for in
 * Accept (or `_format`) is 406, a request body declared in another version is 415, both with an
 * OperationOutcome; `fhirVersion=4.0` (and the R4 releases 4.0.0, 4.0.1) work, and the answer
 * then names its version too (`application/fhir+json; fhirVersion=4.0`).
 */
describe('the fhirVersion media type parameter (http.html#version-parameter)', () => {
  let t: TestApp;
  let id: string;
  beforeAll(async () => {
    t = await startTestApp();
    id = (await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', gender: 'female' })).body.id;
  });
  afterAll(async () => t.close());

  const outcome = (body: any, text: RegExp) => {
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0].diagnostics).toMatch(text);
  };

  it('Accept naming another FHIR version: 406 with an OperationOutcome (read, search, create)', async () => {
    for (const accept of ['application/fhir+json; fhirVersion=3.0', 'application/fhir+json;fhirVersion=5.0, application/json; fhirVersion=1.0']) {
      const read = await t.http.get(`/fhir/Patient/${id}`).set('Accept', accept);
      expect(read.status).toBe(406);
      outcome(read.body, /R4 only/);
      expect((await t.http.get('/fhir/Patient').set('Accept', accept)).status).toBe(406);
      const create = await t.http.post('/fhir/Patient').set({ 'Content-Type': FHIR_JSON, Accept: accept }).send({ resourceType: 'Patient' });
      expect(create.status).toBe(406);
    }
    // nothing was created by the refused creates
    expect((await t.http.get('/fhir/Patient?_summary=count')).body.total).toBe(1);
  });

  it('_format naming another FHIR version: 406; with R4 it is served', async () => {
    const r = await t.http.get(`/fhir/Patient/${id}`).query({ _format: 'application/fhir+json; fhirVersion=3.0' });
    expect(r.status).toBe(406);
    outcome(r.body, /R4 only/);
    const ok = await t.http.get(`/fhir/Patient/${id}`).query({ _format: 'application/fhir+json;fhirVersion=4.0' });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^application\/fhir\+json; fhirVersion=4\.0/);
  });

  it('fhirVersion=4.0 and 4.0.1 are R4: answered, naming fhirVersion=4.0 in Content-Type', async () => {
    for (const v of ['4.0', '4.0.1']) {
      const r = await t.http.get(`/fhir/Patient/${id}`).set('Accept', `application/fhir+json; fhirVersion=${v}`);
      expect(r.status).toBe(200);
      expect(r.body.id).toBe(id);
      expect(r.headers['content-type']).toBe('application/fhir+json; fhirVersion=4.0; charset=utf-8');
    }
    // one acceptable alternative is enough
    const mixed = await t.http.get(`/fhir/Patient/${id}`).set('Accept', 'application/fhir+json; fhirVersion=3.0, application/fhir+json; fhirVersion=4.0');
    expect(mixed.status).toBe(200);
    // without the parameter the answer stays as before
    expect((await t.http.get(`/fhir/Patient/${id}`)).headers['content-type']).toBe('application/fhir+json; charset=utf-8');
  });

  it('a request body declared in another FHIR version: 415, nothing written; R4 bodies are taken', async () => {
    const body = { resourceType: 'Patient', gender: 'male' };
    for (const [method, url] of [['post', '/fhir/Patient'], ['put', `/fhir/Patient/${id}`]] as const) {
      const r = await t.http[method](url).set('Content-Type', 'application/fhir+json; fhirVersion=3.0').send(JSON.stringify({ ...body, id }));
      expect(r.status).toBe(415);
      outcome(r.body, /R4 only/);
    }
    const bundle = await t.http.post('/fhir').set('Content-Type', 'application/fhir+json; fhirVersion=5.0').send(JSON.stringify({ resourceType: 'Bundle', type: 'batch' }));
    expect(bundle.status).toBe(415);
    expect((await t.http.get(`/fhir/Patient/${id}`)).body.meta.versionId).toBe('1');
    for (const v of ['4.0', '4.0.1']) {
      const r = await t.http.post('/fhir/Patient').set('Content-Type', `application/fhir+json; fhirVersion=${v}`).send(JSON.stringify(body));
      expect(r.status).toBe(201);
    }
  });
});

/**
 * Binary read (http.html#binary) in its FHIR JSON form: the `fhirVersion` asked for in Accept or
 * `_format` is named in the answer's Content-Type as for any resource (http.html#version-parameter),
 * whether the document is stored in chunks (streamed as base64) or inline; the raw document keeps
 * its own type.
 */
describe('fhirVersion and Binary read', () => {
  let t: TestApp;
  let chunked: string;
  let inline: string;
  const doc = Buffer.from('%PDF-1.4 a document\n');
  beforeAll(async () => {
    t = await startTestApp();
    chunked = (await t.http.post('/fhir/Binary').set('Content-Type', 'application/pdf').send(doc)).body.id;
    // written through a Bundle: stored inline (no chunks)
    const tx = await t.http
      .post('/fhir')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Binary' }, resource: { resourceType: 'Binary', contentType: 'application/pdf', data: doc.toString('base64') } }] });
    inline = tx.body.entry[0].response.location.split('/')[1];
  });
  afterAll(async () => t.close());

  it('Accept or _format naming fhirVersion=4.0: the Binary resource, Content-Type naming it; without: as before', async () => {
    for (const id of [chunked, inline]) {
      for (const url of [`/fhir/Binary/${id}`, `/fhir/Binary/${id}/_history/1`]) {
        const viaAccept = await t.http.get(url).set('Accept', 'application/fhir+json; fhirVersion=4.0');
        const viaFormat = await t.http.get(url).query({ _format: 'application/fhir+json; fhirVersion=4.0.1' });
        for (const r of [viaAccept, viaFormat]) {
          expect({ url, status: r.status, type: r.headers['content-type'] }).toEqual({ url, status: 200, type: 'application/fhir+json; fhirVersion=4.0; charset=utf-8' });
          expect(Buffer.from(JSON.parse(r.text).data, 'base64')).toEqual(doc);
        }
        const plain = await t.http.get(url).set('Accept', 'application/fhir+json');
        expect(plain.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
      }
    }
    const raw = await t.http.get(`/fhir/Binary/${chunked}`).set('Accept', 'application/pdf');
    expect(raw.headers['content-type']).toBe('application/pdf');
    // another FHIR version: 406 as for any resource
    expect((await t.http.get(`/fhir/Binary/${chunked}`).set('Accept', 'application/fhir+json; fhirVersion=3.0')).status).toBe(406);
  });

  it('$meta on a Binary names fhirVersion too', async () => {
    const r = await t.http.get(`/fhir/Binary/${chunked}/$meta`).set('Accept', 'application/fhir+json; fhirVersion=4.0');
    expect([r.status, r.headers['content-type']]).toEqual([200, 'application/fhir+json; fhirVersion=4.0; charset=utf-8']);
  });
});

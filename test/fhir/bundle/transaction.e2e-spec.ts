import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

// R4 http.html §3.1.0.11 batch/transaction, §3.1.0.11.2 transaction processing rules
describe('transaction Bundles (http.html §3.1.0.11)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ MAX_BUNDLE_ENTRIES: '50' });
  });
  afterAll(async () => t.close());

  const post = (bundle: unknown, prefer?: string) => {
    const r = t.http.post('/fhir').set('Content-Type', FHIR_JSON);
    if (prefer) r.set('Prefer', prefer);
    return r.send(bundle as object);
  };
  const tx = (entry: unknown[]) => ({ resourceType: 'Bundle', type: 'transaction', entry });
  const idOf = (location: string) => location.split('/')[1];
  const patient = (family: string) => ({ resourceType: 'Patient', name: [{ family }] });

  // bundle.html#references: a Bundle resource (a document, a collection) resolves its entries' references among
  // its own fullUrls; the transaction that stores it resolves only its own entries' placeholders
  it('a Bundle written by a transaction keeps its own entries and their urn:uuid references as they are', async () => {
    const inner = 'urn:uuid:5f1c0d3e-8d7b-4f65-9c1e-2b7f6a1d9e01';
    const outer = 'urn:uuid:5f1c0d3e-8d7b-4f65-9c1e-2b7f6a1d9e02';
    const collection = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: inner, resource: patient('Inside') },
        { fullUrl: 'urn:uuid:5f1c0d3e-8d7b-4f65-9c1e-2b7f6a1d9e03', resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: inner } } },
      ],
    };
    const res = await post(
      tx([
        { fullUrl: outer, resource: patient('Outside'), request: { method: 'POST', url: 'Patient' } },
        { resource: collection, request: { method: 'POST', url: 'Bundle' } },
        { resource: { resourceType: 'List', status: 'current', mode: 'working', subject: { reference: outer }, entry: [{ item: { reference: outer } }] }, request: { method: 'POST', url: 'List' } },
      ]),
    );
    expect(res.status).toBe(200);
    const [patientId, bundleId, listId] = res.body.entry.map((e: any) => idOf(e.response.location));
    const stored = (await t.http.get(`/fhir/Bundle/${bundleId}`)).body;
    expect(stored.entry).toEqual(collection.entry);
    const list = (await t.http.get(`/fhir/List/${listId}`)).body;
    expect(list.subject.reference).toBe(`Patient/${patientId}`);
    expect(list.entry[0].item.reference).toBe(`Patient/${patientId}`);
  });

  it('creates every entry and rewrites urn:uuid references in any element, contained resources, uri elements and the narrative', async () => {
    const p = 'urn:uuid:0b6e1b7e-5b2f-4a55-9a46-3c1f3a0b1a01';
    const o = 'urn:oid:1.2.3.4.5';
    const res = await post(
      tx([
        { fullUrl: p, resource: patient('Urn'), request: { method: 'POST', url: 'Patient' } },
        {
          fullUrl: o,
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'weight' },
            subject: { reference: p },
            text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml"><a href="${p}">patient</a></div>` },
            extension: [{ url: 'http://example.org/ext', valueReference: { reference: p } }],
            contained: [{ resourceType: 'Provenance', id: 'prov', recorded: '2024-01-01T00:00:00Z', target: [{ reference: p }], agent: [{ who: { reference: p } }] }],
            focus: [{ reference: '#prov' }],
          },
          request: { method: 'POST', url: 'Observation' },
        },
        {
          resource: { resourceType: 'Provenance', recorded: '2024-01-01T00:00:00Z', target: [{ reference: o }], agent: [{ who: { reference: p } }] },
          request: { method: 'POST', url: 'Provenance' },
        },
        {
          resource: { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { url: o, title: o } }] },
          request: { method: 'POST', url: 'DocumentReference' },
        },
      ]),
    );
    expect(res.body.issue).toBeUndefined();
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('transaction-response');
    expect(res.body.entry).toHaveLength(4);
    for (const e of res.body.entry) {
      expect(e.response.status).toBe('201 Created');
      expect(e.response.location).toMatch(/^[A-Za-z]+\/[0-9a-f-]{36}\/_history\/1$/);
      expect(e.response.etag).toBe('W/"1"');
      expect(new Date(e.response.lastModified).getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(e.resource).toBeUndefined(); // default: return=minimal
    }
    const pid = idOf(res.body.entry[0].response.location);
    const oid = idOf(res.body.entry[1].response.location);
    const obs = (await t.http.get(`/fhir/Observation/${oid}`)).body;
    expect(obs.subject.reference).toBe(`Patient/${pid}`);
    expect(obs.extension[0].valueReference.reference).toBe(`Patient/${pid}`);
    expect(obs.contained[0].target[0].reference).toBe(`Patient/${pid}`);
    expect(obs.contained[0].agent[0].who.reference).toBe(`Patient/${pid}`);
    expect(obs.focus[0].reference).toBe('#prov');
    expect(obs.text.div).toContain(`href="Patient/${pid}"`);
    const prov = (await t.http.get(`/fhir/${res.body.entry[2].response.location.split('/_history')[0]}`)).body;
    expect(prov.target[0].reference).toBe(`Observation/${oid}`);
    // "all matching links": uri/url elements too (Attachment.url), not plain strings
    const doc = (await t.http.get(`/fhir/${res.body.entry[3].response.location.split('/_history')[0]}`)).body;
    expect(doc.content[0].attachment).toEqual({ url: `Observation/${oid}`, title: o });
  });

  it('Prefer: return=representation puts each resource in its response entry', async () => {
    const res = await post(tx([{ fullUrl: 'urn:uuid:r1', resource: patient('Rep'), request: { method: 'POST', url: 'Patient' } }]), 'return=representation');
    expect(res.status).toBe(200);
    const e = res.body.entry[0];
    expect(e.resource.resourceType).toBe('Patient');
    expect(e.resource.name[0].family).toBe('Rep');
    expect(e.resource.meta.versionId).toBe('1');
    expect(e.fullUrl).toBe(`${t.baseUrl}/Patient/${e.resource.id}`);
  });

  it('processes DELETE, POST, PUT, PATCH, then GET, whatever their order in the Bundle (§3.1.0.11.2)', async () => {
    const a = (await t.http.post('/fhir/Patient').send(patient('ToDelete'))).body.id;
    const b = (await t.http.post('/fhir/Patient').send(patient('ToPatch'))).body.id;
    const patch = Buffer.from(JSON.stringify([{ op: 'replace', path: '/name/0/family', value: 'Patched' }])).toString('base64');
    const res = await post(
      tx([
        { request: { method: 'GET', url: `Patient/${a}/_history` } },
        { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: patch }, request: { method: 'PATCH', url: `Patient/${b}` } },
        { resource: { resourceType: 'Patient', id: 'tx-put-new', name: [{ family: 'Put' }] }, request: { method: 'PUT', url: 'Patient/tx-put-new' } },
        { fullUrl: 'urn:uuid:new', resource: patient('Posted'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'DELETE', url: `Patient/${a}` } },
        { request: { method: 'GET', url: `Patient/${b}` } },
      ]),
    );
    expect(res.status).toBe(200);
    const status = res.body.entry.map((e: any) => e.response.status);
    // the GETs run after the writes, inside the transaction: the delete is in the history, the patched one patched
    expect(status).toEqual(['200 OK', '200 OK', '201 Created', '201 Created', '204 No Content', '200 OK']);
    expect(res.body.entry[0].resource.entry.map((e: any) => e.request.method)).toEqual(['DELETE', 'POST']);
    expect(res.body.entry[5].resource.name[0].family).toBe('Patched');
    expect(res.body.entry[5].resource.meta.versionId).toBe('2');
    expect(res.body.entry[1].response.etag).toBe('W/"2"');
    expect(res.body.entry[4].response.etag).toBe('W/"2"');
    expect((await t.http.get('/fhir/Patient/tx-put-new')).body.name[0].family).toBe('Put');
  });

  // http.html §3.1.0.11.2: the GET entries are processed last, inside the transaction, so they see its writes
  it('GET entries are answered inside the transaction and see its own writes (§3.1.0.11.2)', async () => {
    const value = `tx-own-${Date.now()}`;
    const res = await post(
      tx([
        { request: { method: 'GET', url: `Patient?identifier=http://s|${value}` } },
        { fullUrl: 'urn:uuid:own', resource: { resourceType: 'Patient', identifier: [{ system: 'http://s', value }] }, request: { method: 'POST', url: 'Patient' } },
      ]),
    );
    expect(res.status).toBe(200);
    const id = idOf(res.body.entry[1].response.location);
    expect(res.body.entry[0].response.status).toBe('200 OK');
    expect(res.body.entry[0].resource.total).toBe(1);
    expect(res.body.entry[0].resource.entry[0].resource.id).toBe(id);
  });

  // http.html §3.1.0.11.2: "a transaction SHALL either accept all actions and return 200, or reject all resources
  // and return an HTTP 400 or 500 type response"; a failing GET is a failing action like any other
  it('a failing GET entry fails the whole transaction and nothing is committed (§3.1.0.11.2)', async () => {
    const value = `tx-get-fails-${Date.now()}`;
    const existing = (await t.http.post('/fhir/Patient').send(patient('KeptAlive'))).body;
    const missing = await post(
      tx([
        { resource: { resourceType: 'Patient', identifier: [{ system: 'http://s', value }] }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/never-existed' } },
      ]),
    );
    expect(missing.status).toBe(404);
    expect(missing.body.resourceType).toBe('OperationOutcome');
    expect(missing.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[1\]: Patient\/never-existed is not known/);
    expect((await t.http.get(`/fhir/Patient?identifier=http://s|${value}`)).body.total).toBe(0);
    // the read sees the transaction's delete (410), so the delete is rolled back with it
    const gone = await post(
      tx([
        { request: { method: 'GET', url: `Patient/${existing.id}` } },
        { request: { method: 'DELETE', url: `Patient/${existing.id}` } },
      ]),
    );
    expect(gone.status).toBe(410);
    expect(gone.headers.etag).toBeUndefined();
    expect(gone.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[0\]/);
    const after = await t.http.get(`/fhir/Patient/${existing.id}`);
    expect(after.status).toBe(200);
    expect(after.body.meta.versionId).toBe('1');
  });

  it('a PATCH entry may carry a FHIRPath Patch (Parameters) as well as a JSON Patch Binary (§3.1.0.11)', async () => {
    const id = (await t.http.post('/fhir/Patient').send(patient('Before'))).body.id;
    const parameters = {
      resourceType: 'Parameters',
      parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Patient.name[0].family' }, { name: 'value', valueString: 'After' }] }],
    };
    const res = await post(tx([{ resource: parameters, request: { method: 'PATCH', url: `Patient/${id}` } }]));
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toBe('200 OK');
    expect((await t.http.get(`/fhir/Patient/${id}`)).body.name[0].family).toBe('After');
    // one that cannot apply fails the whole transaction (422), naming the entry
    const noGender = {
      resourceType: 'Parameters',
      parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Patient.gender' }, { name: 'value', valueCode: 'male' }] }],
    };
    const two = await post(
      tx([
        { fullUrl: 'urn:uuid:lost', resource: patient('Lost'), request: { method: 'POST', url: 'Patient' } },
        { resource: noGender, request: { method: 'PATCH', url: `Patient/${id}` } },
      ]),
    );
    expect(two.status).toBe(422);
    expect(two.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[1\].*FHIRPath Patch/);
    expect((await t.http.get('/fhir/Patient?family=Lost')).body.entry ?? []).toHaveLength(0);
  });

  it('a failing entry rolls everything back and the OperationOutcome names its index', async () => {
    const existing = (await t.http.post('/fhir/Patient').send(patient('Stays'))).body;
    const before = await t.http.get('/fhir/Patient/_history?_count=1000');
    const res = await post(
      tx([
        { fullUrl: 'urn:uuid:ok', resource: patient('Lost'), request: { method: 'POST', url: 'Patient' } },
        { resource: { ...existing, name: [{ family: 'Changed' }] }, request: { method: 'PUT', url: `Patient/${existing.id}` } },
        // (a DELETE of an id that never existed succeeds, http.html#delete: with If-Match it cannot)
        { request: { method: 'DELETE', url: 'Patient/does-not-exist', ifMatch: 'W/"1"' } },
      ]),
    );
    expect(res.status).toBe(412);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[2\]/);
    const after = await t.http.get('/fhir/Patient/_history?_count=1000');
    expect(after.body.entry.length).toBe(before.body.entry.length);
    expect((await t.http.get(`/fhir/Patient/${existing.id}`)).body.name[0].family).toBe('Stays');
  });

  it('an invalid resource fails the transaction with 400/422 naming the entry', async () => {
    const res = await post(
      tx([
        { resource: patient('Fine'), request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', birthDate: 'not-a-date' }, request: { method: 'POST', url: 'Patient' } },
      ]),
    );
    expect([400, 422]).toContain(res.status);
    expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[1\]/);
  });

  it('ifMatch per entry: a stale version fails the whole transaction with 412', async () => {
    const p = (await t.http.post('/fhir/Patient').send(patient('V1'))).body;
    await t.http.put(`/fhir/Patient/${p.id}`).send({ ...p, name: [{ family: 'V2' }] });
    const res = await post(tx([{ resource: { ...p, name: [{ family: 'Stale' }] }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch: 'W/"1"' } }]));
    expect(res.status).toBe(412);
    expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[0\]/);
    const ok = await post(tx([{ resource: { ...p, name: [{ family: 'V3' }] }, request: { method: 'PUT', url: `Patient/${p.id}`, ifMatch: 'W/"2"' } }]));
    expect(ok.status).toBe(200);
    expect(ok.body.entry[0].response.status).toBe('200 OK');
    expect(ok.body.entry[0].response.etag).toBe('W/"3"');
  });

  it('GET entries honour ifNoneMatch and ifModifiedSince (304)', async () => {
    const p = (await t.http.post('/fhir/Patient').send(patient('Cached'))).body;
    const res = await post(
      tx([
        { request: { method: 'GET', url: `Patient/${p.id}`, ifNoneMatch: 'W/"1"' } },
        { request: { method: 'GET', url: `Patient/${p.id}`, ifModifiedSince: new Date(Date.now() + 60_000).toISOString() } },
        { request: { method: 'GET', url: `Patient/${p.id}`, ifNoneMatch: 'W/"9"' } },
      ]),
    );
    expect(res.body.entry.map((e: any) => e.response.status)).toEqual(['304 Not Modified', '304 Not Modified', '200 OK']);
    expect(res.body.entry[2].resource.id).toBe(p.id);
  });

  it('the same resource in two entries, or a repeated fullUrl, is an error (§3.1.0.11.2)', async () => {
    const p = (await t.http.post('/fhir/Patient').send(patient('Twice'))).body;
    const twice = await post(
      tx([
        { resource: { ...p, active: true }, request: { method: 'PUT', url: `Patient/${p.id}` } },
        { request: { method: 'DELETE', url: `Patient/${p.id}` } },
      ]),
    );
    expect(twice.status).toBe(400);
    expect(twice.body.issue[0].diagnostics).toMatch(/Bundle\.entry\[\d\]/);
    const dupUrl = await post(
      tx([
        { fullUrl: 'urn:uuid:same', resource: patient('A'), request: { method: 'POST', url: 'Patient' } },
        { fullUrl: 'urn:uuid:same', resource: patient('B'), request: { method: 'POST', url: 'Patient' } },
      ]),
    );
    expect(dupUrl.status).toBe(400);
    expect(dupUrl.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[1\]/);
  });

  it('a urn:uuid reference that no entry has fails with 400', async () => {
    const res = await post(
      tx([{ resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:nowhere' } }, request: { method: 'POST', url: 'Observation' } }]),
    );
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[0\].*urn:uuid:nowhere/);
  });

  it('rejects malformed Bundles: not a Bundle, wrong type, entry without request, type mismatch', async () => {
    expect((await post({ resourceType: 'Patient' })).status).toBe(400);
    expect((await post({ resourceType: 'Bundle', type: 'collection', entry: [] })).status).toBe(400);
    const noRequest = await post(tx([{ resource: patient('x') }]));
    expect(noRequest.status).toBe(400);
    expect(noRequest.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[0\]/);
    const mismatch = await post(tx([{ resource: patient('x'), request: { method: 'POST', url: 'Observation' } }]));
    expect(mismatch.status).toBe(400);
    expect((await post(tx([{ resource: patient('x'), request: { method: 'POST', url: 'NoSuchType' } }]))).status).toBe(404);
  });

  it('more entries than MAX_BUNDLE_ENTRIES is 413', async () => {
    const entry = Array.from({ length: 51 }, () => ({ resource: patient('Many'), request: { method: 'POST', url: 'Patient' } }));
    const res = await post(tx(entry));
    expect(res.status).toBe(413);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const ok = await post(tx(entry.slice(0, 50)));
    expect(ok.status).toBe(200);
    expect(ok.body.entry).toHaveLength(50);
  });

  it('concurrent readers never see part of a transaction', async () => {
    const n = 40;
    const entry = Array.from({ length: n }, (_, i) => ({
      fullUrl: `urn:uuid:basic-${i}`,
      resource: { resourceType: 'Basic', code: { text: `b${i}` } },
      request: { method: 'POST', url: 'Basic' },
    }));
    const failing = [...entry.slice(0, n - 1), { resource: { resourceType: 'Basic' }, request: { method: 'POST', url: 'Basic' } }];
    const seen = new Set<number>();
    let done = false;
    const reader = (async () => {
      while (!done) {
        const h = await t.http.get('/fhir/Basic/_history?_count=1000');
        seen.add(h.body.entry.length);
      }
    })();
    const bad = await post(tx(failing)); // Basic.code is required: the last entry fails
    expect(bad.status).not.toBe(200);
    const good = await post(tx(entry));
    expect(good.status).toBe(200);
    done = true;
    await reader;
    const final = await t.http.get('/fhir/Basic/_history?_count=1000');
    expect(final.body.entry).toHaveLength(n);
    for (const count of seen) expect([0, n]).toContain(count);
  });
});

import * as fs from 'fs';
import * as path from 'path';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

const EXAMPLES = path.resolve(__dirname, '../../../../shared/fixtures/r4-examples');
const present = fs.existsSync(EXAMPLES);
if (!present) console.warn(`skipping Composition/$document over the R4 examples: ${EXAMPLES} is absent`);
const describeIfExamples = present ? describe : describe.skip;

/** `Type/id` references in a resource (relative literal references, as the R4 examples write them). */
const refsOf = (r: object) => [...JSON.stringify(r).matchAll(/"reference":"([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})"/g)].map((m) => m[1]);

/**
 * Composition/$document (R4 composition-operation-document.html, documents.html) on the R4
 * example Composition: the test stores it and, following references, every R4 example it leads to
 * (those a plain PUT accepts), then expects the document to hold exactly the resources its own
 * walk over what was stored reaches, the Composition first, each as stored.
 */
describeIfExamples('Composition/$document (documents.html)', () => {
  let t: TestApp;
  const stored = new Map<string, any>();
  const read = (ref: string): any => {
    const [type, id] = ref.split('/');
    const file = path.join(EXAMPLES, `${type}-${id}.json`);
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
  };
  /** The test's own closure: the Composition and every stored resource reachable by references. */
  const closure = (start: string) => {
    const seen = new Set([start]);
    const queue = [start];
    while (queue.length) for (const r of refsOf(stored.get(queue.shift()!))) if (stored.has(r) && !seen.has(r)) seen.add(r), queue.push(r);
    return seen;
  };
  const keyOf = (e: any) => `${e.resource.resourceType}/${e.resource.id}`;

  beforeAll(async () => {
    t = await startTestApp();
    const queue = ['Composition/example'];
    const tried = new Set(queue);
    while (queue.length) {
      const ref = queue.shift()!;
      const r = read(ref);
      if (!r) continue;
      const res = await t.http.put(`/fhir/${ref}`).set('Content-Type', FHIR_JSON).send(r);
      if (res.status >= 300) continue; // an example the server refuses is simply not there
      stored.set(ref, res.body);
      for (const next of refsOf(r)) if (!tried.has(next)) tried.add(next), queue.push(next);
    }
  });
  afterAll(async () => t.close());

  it('a document Bundle: the Composition first, then exactly what its references reach, each as stored (bdl-9, bdl-10, bdl-11)', async () => {
    const res = await t.http.get('/fhir/Composition/example/$document');
    expect(res.status).toBe(200);
    const b = res.body;
    expect(b.type).toBe('document');
    expect(b.identifier.value).toMatch(/^urn:uuid:/);
    expect(Number.isNaN(Date.parse(b.timestamp))).toBe(false);
    expect(keyOf(b.entry[0])).toBe('Composition/example');
    const expected = closure('Composition/example');
    expect(expected.size).toBeGreaterThan(4);
    expect(new Set(b.entry.map(keyOf))).toEqual(expected);
    expect(b.entry).toHaveLength(expected.size);
    for (const e of b.entry) {
      expect(e.fullUrl).toBe(`${t.baseUrl}/${keyOf(e)}`);
      expect(e.resource).toEqual(stored.get(keyOf(e)));
    }
  });

  it('type level with id, as a batch entry, and the errors: unknown 404, persist on GET 405, a bad persist 400', async () => {
    const byId = await t.http.get(`/fhir/Composition/$document?id=${encodeURIComponent(`${t.baseUrl}/Composition/example`)}`);
    expect(byId.body.entry.map(keyOf)).toEqual((await t.http.get('/fhir/Composition/example/$document')).body.entry.map(keyOf));
    const batch = await t.http.post('/fhir').set('Content-Type', FHIR_JSON).send({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: 'Composition/example/$document' } }],
    });
    expect(new Set(batch.body.entry[0].resource.entry.map(keyOf))).toEqual(closure('Composition/example'));
    expect((await t.http.get('/fhir/Composition/none/$document')).status).toBe(404);
    expect((await t.http.get('/fhir/Composition/example/$document?persist=true')).status).toBe(405);
    expect((await t.http.get('/fhir/Composition/example/$document?persist=maybe')).status).toBe(400);
  });

  it('persist=true (POST) stores the document as a Bundle resource and answers its Location', async () => {
    const res = await t.http
      .post('/fhir/Composition/example/$document')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Parameters', parameter: [{ name: 'persist', valueBoolean: true }] });
    expect(res.status).toBe(201);
    expect(res.headers.location).toMatch(new RegExp(`^${t.baseUrl}/Bundle/[^/]+/_history/1$`));
    const back = await t.http.get(`/fhir${res.headers.location.slice(t.baseUrl.length)}`);
    expect(back.status).toBe(200);
    expect(back.body.type).toBe('document');
    expect(new Set(back.body.entry.map(keyOf))).toEqual(closure('Composition/example'));
    const found = await t.http.get(`/fhir/Bundle?type=document&identifier=${encodeURIComponent(`urn:ietf:rfc:3986|${back.body.identifier.value}`)}`);
    expect(found.body.entry.map((e: any) => e.resource.id)).toEqual([back.body.id]);
    // Bundle.composition (R4: Bundle.entry[0].resource, "the first resource in the bundle") and chains through it
    const bundleIds = async (q: string) => ((await t.http.get(`/fhir/Bundle?${q}`)).body.entry ?? []).map((e: any) => e.resource.id);
    expect(await bundleIds('composition=Composition/example')).toEqual([back.body.id]);
    const subject = stored.get('Composition/example').subject.reference;
    expect(await bundleIds(`composition.subject=${encodeURIComponent(subject)}`)).toEqual([back.body.id]);
    expect(await bundleIds('composition.subject=Patient/nobody')).toEqual([]);
  });
});

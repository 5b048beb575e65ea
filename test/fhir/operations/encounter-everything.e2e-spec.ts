import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { loadTransaction } from '../export/export-oracle-helpers';
import { compartmentFocals, compartmentOf, everyPage, keyDiff, localReference } from '../search/compartments';
import { patientBundleFiles, readBundle, syntheaPresent } from '../search/synthea-fixtures';

/**
 * `Encounter/[id]/$everything` (R4 OperationDefinition Encounter-everything) against an oracle computed
 * here from the Synthea fixtures: the matches are the Encounter and its compartment (the official R4
 * CompartmentDefinition-encounter, FHIRPath over each member parameter's expression); each page's
 * includes are the stored resources the page's matches refer to ("any resource referenced by the
 * above"), less the page's own matches.
 */
const present = syntheaPresent();
if (!present) console.warn('skipping Encounter/$everything: ../shared/fixtures/synthea not found');

(present ? describe : describe.skip)('Encounter/$everything (R4 Encounter-everything, CompartmentDefinition-encounter)', () => {
  let t: TestApp;
  const universe = new Map<string, any>();
  const encounter = compartmentOf('Encounter');
  const key = (r: any) => `${r.resourceType}/${r.id}`;

  const record = (id: string): string[] =>
    [...universe.values()]
      .filter((r) => (r.resourceType === 'Encounter' && r.id === id) || compartmentFocals(encounter.params, 'Encounter', r, t.baseUrl).has(id))
      .map(key)
      .sort();

  /** the local references anywhere in a resource, as `Type/id` */
  const referencesOf = (node: any, out: Set<string> = new Set()): Set<string> => {
    if (Array.isArray(node)) node.forEach((x) => referencesOf(x, out));
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        const local = k === 'reference' ? localReference(v, t.baseUrl) : undefined;
        if (local) out.add(local);
        else referencesOf(v, out);
      }
    }
    return out;
  };
  const encounters = () => [...universe.values()].filter((r) => r.resourceType === 'Encounter').map((r) => r.id as string);

  /** every page of one call, each as its matches and includes */
  async function pages(path: string): Promise<{ matches: string[]; includes: string[]; total?: number }[]> {
    const out: { matches: string[]; includes: string[]; total?: number }[] = [];
    let url: string | undefined = `/fhir/${path}`;
    while (url) {
      const res = await t.http.get(url);
      if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      const of = (mode: string) => (res.body.entry ?? []).filter((e: any) => e.search.mode === mode).map((e: any) => key(e.resource));
      out.push({ matches: of('match'), includes: of('include'), total: res.body.total });
      const next = res.body.link.find((l: any) => l.relation === 'next')?.url;
      url = next ? next.replace(t.baseUrl, '/fhir') : undefined;
    }
    return out;
  }

  beforeAll(async () => {
    t = await startTestApp();
    for (const file of patientBundleFiles('smart-generated-sample-data', 3)) {
      for (const c of await loadTransaction(t, readBundle(file))) universe.set(c.key, c.expected);
    }
  }, 120_000);
  afterAll(async () => t?.close());

  it('every Encounter: the matches are the Encounter then its compartment, each page includes what its matches refer to (followed to the last page)', async () => {
    const all = encounters();
    expect(all.length).toBeGreaterThan(5);
    const disagreements: string[] = [];
    let withMembers = 0;
    for (const id of all) {
      const expected = record(id);
      if (expected.length > 1) withMembers++;
      const got = await pages(`Encounter/${id}/$everything?_count=5`);
      const matches = got.flatMap((p) => p.matches);
      if (matches[0] !== `Encounter/${id}`) disagreements.push(`${id}: first match ${matches[0]}`);
      const d = keyDiff(expected, [...matches].sort());
      if (d.missing.length || d.extra.length || new Set(matches).size !== matches.length) disagreements.push(`${id}: ${JSON.stringify(d)}`);
      for (const [i, p] of got.entries()) {
        const referenced = new Set(p.matches.flatMap((m) => [...referencesOf(universe.get(m))]));
        const includes = [...referenced].filter((r) => universe.has(r) && !p.matches.includes(r)).sort();
        const di = keyDiff(includes, [...p.includes].sort());
        if (di.missing.length || di.extra.length) disagreements.push(`${id} page ${i}: includes ${JSON.stringify(di)}`);
      }
    }
    expect(disagreements).toEqual([]);
    expect(withMembers).toBeGreaterThan(5);
  }, 120_000);

  it('the whole record in one page: total, the subject Patient as an include; _type narrows, _since bounds', async () => {
    const id = encounters().find((e) => record(e).some((k) => k.startsWith('Observation/')))!;
    const [page] = await pages(`Encounter/${id}/$everything?_count=1000`);
    expect(page.total).toBe(record(id).length);
    const subject = localReference(universe.get(`Encounter/${id}`).subject.reference, t.baseUrl)!;
    expect(page.includes).toContain(subject);
    const [observations] = await pages(`Encounter/${id}/$everything?_type=Observation&_count=1000`);
    expect([...observations.matches].sort()).toEqual(record(id).filter((k) => k.startsWith('Observation/')));
    // _since: only what changed after; an Observation of the encounter updated now is the whole answer
    const since = new Date(Date.now() + 1000).toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    const obs = universe.get(observations.matches[0]);
    const put = await t.http.put(`/fhir/Observation/${obs.id}`).set('Content-Type', FHIR_JSON).send({ ...obs, status: 'amended' });
    expect(put.status).toBe(200);
    const [later] = await pages(`Encounter/${id}/$everything?_since=${encodeURIComponent(since)}`);
    expect(later.matches).toEqual([`Observation/${obs.id}`]);
  });

  it('Encounter-everything inputs: start/end are Patient-everything\'s (400); an unknown Encounter is 404; no type level', async () => {
    const id = encounters()[0];
    expect((await t.http.get(`/fhir/Encounter/${id}/$everything?start=2020`)).status).toBe(400);
    expect((await t.http.get('/fhir/Encounter/no-such-encounter/$everything')).status).toBe(404);
    expect((await t.http.get('/fhir/Encounter/$everything')).status).toBe(404);
    const cs = (await t.http.get('/fhir/metadata')).body;
    const ops = cs.rest[0].resource.find((r: any) => r.type === 'Encounter').operation;
    expect(ops).toEqual(expect.arrayContaining([{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Encounter-everything' }]));
  });
});

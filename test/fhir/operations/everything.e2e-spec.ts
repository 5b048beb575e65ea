import type { Bundle } from 'fhir/r4';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { loadBundles, smallestBundles, syntheaAvailable } from '../export/synthea';

const describeSynthea = syntheaAvailable() ? describe : describe.skip;
if (!syntheaAvailable()) console.warn('Synthea fixtures not found (../shared/fixtures/synthea): $everything tests skipped');

const REFERENCED = new Set(['Practitioner', 'Organization', 'Location', 'Medication']);

// R4 patient-operation-everything.html (Patient/$everything) with CompartmentDefinition-patient
describeSynthea('Patient/$everything', () => {
  let t: TestApp;
  let bundles: Bundle[];
  /** per loaded bundle: every resource it created, as `Type/id` */
  let records: Set<string>[];
  let patients: string[];

  beforeAll(async () => {
    t = await startTestApp();
    bundles = smallestBundles(3);
    const maps = await loadBundles(t, bundles);
    records = maps.map((m) => new Set(m.values()));
    patients = records.map((r) => [...r].find((x) => x.startsWith('Patient/'))!.split('/')[1]);
  });
  afterAll(async () => t.close());

  const rel = (url: string) => url.slice(t.config.publicUrl.length);
  const key = (e: any) => `${e.resource.resourceType}/${e.resource.id}`;

  /** Follows `next` links to the end; returns every entry. */
  async function allPages(path: string): Promise<{ entries: any[]; pages: any[] }> {
    const pages: any[] = [];
    let url: string | undefined = path;
    while (url) {
      const r = await t.http.get(url);
      expect(r.status).toBe(200);
      pages.push(r.body);
      url = r.body.link.find((l: any) => l.relation === 'next')?.url;
      if (url) url = rel(url);
    }
    return { entries: pages.flatMap((p) => p.entry ?? []), pages };
  }

  it('returns exactly the patient\'s record: the compartment plus the Practitioners and Organizations it refers to', async () => {
    const { entries, pages } = await allPages(`/fhir/Patient/${patients[0]}/$everything?_count=1000`);
    expect(pages[0].type).toBe('searchset');
    expect(new Set(entries.map(key))).toEqual(records[0]);
    const matches = entries.filter((e) => e.search.mode === 'match');
    // the matches are the compartment; the referenced directory resources come as includes
    expect(matches.every((e) => !REFERENCED.has(e.resource.resourceType))).toBe(true);
    expect(entries.filter((e) => e.search.mode === 'include').every((e) => REFERENCED.has(e.resource.resourceType))).toBe(true);
    expect(pages[0].total).toBe([...records[0]].filter((k) => !REFERENCED.has(k.split('/')[0])).length);
    expect(matches[0].resource.resourceType).toBe('Patient');
    // nothing of the other patients
    for (const other of [records[1], records[2]]) expect(entries.some((e) => other.has(key(e)))).toBe(false);
  });

  it('_count pages through the record with next/previous links, no gaps, no duplicates', async () => {
    const { entries, pages } = await allPages(`/fhir/Patient/${patients[1]}/$everything?_count=7`);
    expect(pages.length).toBeGreaterThan(2);
    expect(pages[0].entry.filter((e: any) => e.search.mode === 'match').length).toBe(7);
    expect(pages[1].link.some((l: any) => l.relation === 'previous')).toBe(true);
    const matches = entries.filter((e) => e.search.mode === 'match').map(key);
    expect(new Set(matches).size).toBe(matches.length);
    expect(new Set(matches)).toEqual(new Set([...records[1]].filter((k) => !REFERENCED.has(k.split('/')[0]))));
  });

  it('_type limits the types returned', async () => {
    const r = await t.http.get(`/fhir/Patient/${patients[0]}/$everything?_type=Encounter,Practitioner&_count=1000`);
    const types = new Set(r.body.entry.map((e: any) => e.resource.resourceType));
    expect(types).toEqual(new Set(['Encounter', 'Practitioner']));
    const encounters = [...records[0]].filter((k) => k.startsWith('Encounter/'));
    expect(r.body.total).toBe(encounters.length);
  });

  it('POST with a Parameters body answers as GET with the same parameters (operations.html#request)', async () => {
    const get = await t.http.get(`/fhir/Patient/${patients[0]}/$everything?_type=Encounter,Practitioner&_count=1000`);
    const post = await t.http
      .post(`/fhir/Patient/${patients[0]}/$everything`)
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Encounter,Practitioner' }, { name: '_count', valueInteger: 1000 }] });
    expect(post.status).toBe(200);
    expect(post.body.entry.map(key).sort()).toEqual(get.body.entry.map(key).sort());
    expect(post.body.total).toBe(get.body.total);
    const wrong = await t.http.post(`/fhir/Patient/${patients[0]}/$everything`).set('Content-Type', 'application/fhir+json').send({ resourceType: 'Patient' });
    expect(wrong.status).toBe(400);
  });

  it('start/end bound care dates (Observation.effective), _since bounds lastUpdated', async () => {
    const observations = bundles[2].entry!.map((e) => e.resource as any).filter((r) => r.resourceType === 'Observation');
    const times = [...new Set<string>(observations.map((o) => o.effectiveDateTime))].sort();
    expect(times.length).toBeGreaterThan(2);
    const [start, end] = [times[1], times[times.length - 2]]; // leaves out the first and the last visit
    const expected = observations.filter((o) => o.effectiveDateTime >= start && o.effectiveDateTime <= end).length;
    const r = await t.http.get(
      `/fhir/Patient/${patients[2]}/$everything?_type=Observation&_count=1000&start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`,
    );
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(expected);
    expect(expected).toBeLessThan(observations.length);
    const future = new Date(Date.now() + 3600_000).toISOString();
    const since = await t.http.get(`/fhir/Patient/${patients[2]}/$everything?_since=${encodeURIComponent(future)}`);
    expect(since.body.total).toBe(0);
  });

  it('type level: every patient\'s record; unknown patient: 404', async () => {
    const r = await t.http.get('/fhir/Patient/$everything?_type=Patient');
    expect(new Set(r.body.entry.map((e: any) => e.resource.id))).toEqual(new Set(patients));
    expect((await t.http.get('/fhir/Patient/does-not-exist/$everything')).status).toBe(404);
    expect((await t.http.get(`/fhir/Patient/${patients[0]}/$everything?start=notadate`)).status).toBe(400);
  });
});

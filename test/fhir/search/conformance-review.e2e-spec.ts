import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, search, sorted } from './search-helpers';

// Deviations from R4 search.html found in a conformance review, each checked here against the section it
// concerns.
describe('search conformance review', () => {
  let t: TestApp;
  const o: Record<string, string> = {};
  beforeAll(async () => {
    t = await startTestApp();
    o.narrative = await create(t, {
      resourceType: 'Patient',
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Seen at <b>Riverside</b> clinic</div>' },
      name: [{ family: 'Lindqvist' }],
    });
    o.plain = await create(t, { resourceType: 'Patient', name: [{ family: 'Riverside' }] });
    o.other = await create(t, { resourceType: 'Patient', name: [{ family: 'Okafor' }] });
    const obs = (extra: Record<string, unknown>) => create(t, { resourceType: 'Observation', status: 'final', ...extra });
    o.full = await obs({ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } });
    o.codeOnly = await obs({ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] } });
    o.stringValue = await obs({ code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, valueString: 'irregular' });
  });
  afterAll(async () => t.close());

  it('search.html#content: _content searches the entire resource, its narrative text included', async () => {
    expect(await ids(t, 'Patient?_text=riverside')).toEqual([o.narrative]);
    expect(await ids(t, 'Patient?_content=riverside')).toEqual(sorted([o.narrative, o.plain]));
    expect(await ids(t, 'Patient?_content=clinic')).toEqual([o.narrative]);
    expect(await ids(t, 'Patient?_content=xhtml,div')).toEqual([]); // the markup is not text
  });

  it('search.html#total: an estimate is never below what the page shows, and exact when the page holds every match', async () => {
    const paged = await search(t, 'Patient?_total=estimate&_count=1');
    expect(paged.entry).toHaveLength(1);
    expect(paged.link.some((l: any) => l.relation === 'next')).toBe(true);
    expect(paged.total).toBeGreaterThanOrEqual(2);
    expect((await search(t, 'Patient?_total=estimate')).total).toBe(3);
    expect((await search(t, 'Patient?_total=estimate&name=okafor')).total).toBe(1);
  });

  it('search.html#modifiers: :missing on _id and _lastUpdated (every resource has both)', async () => {
    expect(await ids(t, 'Patient?_id:missing=false')).toEqual(sorted([o.narrative, o.plain, o.other]));
    expect(await ids(t, 'Patient?_id:missing=true')).toEqual([]);
    expect(await ids(t, 'Patient?_lastUpdated:missing=false&name=okafor')).toEqual([o.other]);
    expect(await ids(t, 'Patient?_lastUpdated:missing=true')).toEqual([]);
    expect((await t.http.get('/fhir/Patient?_id:missing=maybe')).status).toBe(400);
  });

  it('search.html#modifiers: a composite is missing unless every component has a value', async () => {
    expect(await ids(t, 'Observation?code-value-quantity:missing=false')).toEqual([o.full]);
    expect(await ids(t, 'Observation?code-value-quantity:missing=true')).toEqual(sorted([o.codeOnly, o.stringValue]));
    expect(await ids(t, 'Observation?code-value-quantity=8480-6$gt100')).toEqual([o.full]);
  });
});

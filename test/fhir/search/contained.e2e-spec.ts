import type { RequestContext } from '../../../src/fhir/rest/request-context';
import { SearchRestriction, SearchService } from '../../../src/fhir/search/search.service';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { allPages, create, search, sorted } from './search-helpers';

// R4 search.html#contained: by default searches see no contained resources; `_contained=true` searches only
// contained ones, `both` both; `_containedType=container` (default) returns the containers,
// `contained` the contained resources themselves with the fullUrl `[container url]#[id]`, search.mode = match.
describe('contained resources (search.html#contained)', () => {
  let t: TestApp;
  const r: Record<string, string> = {};
  const med = (id: string, code: string, form: string, manufacturer?: string) => ({
    resourceType: 'Medication',
    id,
    code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code }] },
    form: { coding: [{ system: 'http://snomed.info/sct', code: form }] },
    ...(manufacturer ? { manufacturer: { reference: `Organization/${manufacturer}` } } : {}),
  });
  const request = (contained: object[], medication: string) => ({
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/contained-subject' },
    contained,
    medicationReference: { reference: `#${medication}` },
  });
  /** `Type/id` of the match entries, or for contained resources their fullUrl after the base. */
  const matches = async (path: string) =>
    sorted((await search(t, path)).entry?.filter((e: any) => e.search.mode === 'match').map((e: any) => e.fullUrl.slice(t.baseUrl.length + 1)) ?? []);

  beforeAll(async () => {
    t = await startTestApp();
    r.maker = await create(t, { resourceType: 'Organization', name: 'Pharma Inc' });
    r.standalone = await create(t, med('ignored', '1049221', '385055001'));
    r.mr1 = await create(t, request([med('m1', '1049221', '385055001', r.maker)], 'm1'));
    // two contained Medications: a criterion pair must hold on one of them
    r.mr2 = await create(t, request([med('a', '1049221', '385049006'), med('b', '197361', '385055001')], 'a'));
    r.report = await create(t, {
      resourceType: 'DiagnosticReport',
      status: 'final',
      code: { text: 'panel' },
      contained: [{ resourceType: 'Observation', id: 'o1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] }, valueQuantity: { value: 13.2, unit: 'g/dL' } }],
      result: [{ reference: '#o1' }],
    });
  });
  afterAll(async () => t.close());

  it('_contained=false (default) finds no contained resource', async () => {
    expect(await matches('Medication?code=1049221')).toEqual([`Medication/${r.standalone}`]);
    expect(await matches('Medication?code=1049221&_contained=false')).toEqual([`Medication/${r.standalone}`]);
    expect(await matches('Observation?code=718-7')).toEqual([]);
  });

  it('_contained=true returns the containers of matching contained resources (_containedType=container)', async () => {
    expect(await matches('Medication?code=1049221&_contained=true')).toEqual(sorted([`MedicationRequest/${r.mr1}`, `MedicationRequest/${r.mr2}`]));
    expect(await matches('Observation?_contained=true&code=718-7')).toEqual([`DiagnosticReport/${r.report}`]);
    const b = await search(t, 'Observation?_contained=true&code=718-7');
    expect(b.entry[0].resource.resourceType).toBe('DiagnosticReport');
    expect(b.entry[0].search.mode).toBe('match');
    expect(b.link[0].url).toContain('_contained=true');
  });

  it('_containedType=contained returns the contained resources, fullUrl [container url]#[id]', async () => {
    const b = await search(t, 'Medication?code=1049221&_contained=true&_containedType=contained');
    expect(sorted(b.entry.map((e: any) => e.fullUrl))).toEqual(sorted([`${t.baseUrl}/MedicationRequest/${r.mr1}#m1`, `${t.baseUrl}/MedicationRequest/${r.mr2}#a`]));
    const m1 = b.entry.find((e: any) => e.resource.id === 'm1');
    expect(m1.resource).toEqual(med('m1', '1049221', '385055001', r.maker));
    expect(m1.search.mode).toBe('match');
    expect(b.total).toBe(2);
  });

  it('every criterion holds on the same contained resource', async () => {
    expect(await matches('Medication?_contained=true&code=1049221&form=385049006')).toEqual([`MedicationRequest/${r.mr2}`]);
    expect(await matches('Medication?_contained=true&code=197361&form=385049006')).toEqual([]); // b has the code, a the form
    expect(await matches('Medication?_contained=true&_containedType=contained&code=197361,1049221&form=385055001')).toEqual(
      sorted([`MedicationRequest/${r.mr1}#m1`, `MedicationRequest/${r.mr2}#b`]),
    );
    expect(await matches('Medication?_contained=true&_containedType=contained&_id=b')).toEqual([`MedicationRequest/${r.mr2}#b`]);
    expect(await matches(`Medication?_contained=true&_containedType=contained&manufacturer=Organization/${r.maker}`)).toEqual([`MedicationRequest/${r.mr1}#m1`]);
    expect(await matches('Medication?_contained=true&_containedType=contained&code:missing=true')).toEqual([]);
  });

  it('chains from contained resources, _lastUpdated and _text of the container, system level', async () => {
    const contained = 'Medication?_contained=true&_containedType=contained';
    expect(await matches(`${contained}&manufacturer.name=pharma`)).toEqual([`MedicationRequest/${r.mr1}#m1`]);
    expect(await matches(`${contained}&manufacturer:Organization.name=other`)).toEqual([]);
    expect(await matches(`${contained}&_lastUpdated=gt2000-01-01&form=385049006`)).toEqual([`MedicationRequest/${r.mr2}#a`]);
    expect(await matches(`${contained}&_lastUpdated=lt2000-01-01`)).toEqual([]);
    expect(await matches('Observation?_contained=true&_containedType=contained&_content=panel')).toEqual([`DiagnosticReport/${r.report}#o1`]);
    expect(await matches('?_type=Medication,Observation&_contained=true&_containedType=contained&_count=10')).toEqual(
      sorted([`MedicationRequest/${r.mr1}#m1`, `MedicationRequest/${r.mr2}#a`, `MedicationRequest/${r.mr2}#b`, `DiagnosticReport/${r.report}#o1`]),
    );
  });

  it('_contained=both returns ordinary and contained matches', async () => {
    expect(await matches('Medication?code=1049221&_contained=both&_containedType=contained')).toEqual(
      sorted([`Medication/${r.standalone}`, `MedicationRequest/${r.mr1}#m1`, `MedicationRequest/${r.mr2}#a`]),
    );
    expect(await matches('Medication?code=1049221&_contained=both')).toEqual(sorted([`Medication/${r.standalone}`, `MedicationRequest/${r.mr1}`, `MedicationRequest/${r.mr2}`]));
    expect((await search(t, 'Medication?_contained=both&_summary=count')).total).toBe(3); // a container counts once
    expect((await search(t, 'Medication?_contained=both&_containedType=contained&_summary=count')).total).toBe(4);
  });

  it('pages through contained resources with next links, sorted by a parameter', async () => {
    const all = await allPages(t, 'Medication?_contained=both&_containedType=contained&_count=1');
    expect(all).toHaveLength(4);
    expect(new Set(all).size).toBe(4);
    const containers = await allPages(t, 'Medication?_contained=both&_count=1');
    expect(sorted(containers)).toEqual(sorted([r.standalone, r.mr1, r.mr2])); // each container once
    const byCode = await search(t, 'Medication?_contained=true&_containedType=contained&_sort=-code');
    expect(byCode.entry.map((e: any) => e.resource.code.coding[0].code)).toEqual(['197361', '1049221', '1049221']);
  });

  it('_include follows the references of contained resources', async () => {
    const b = await search(t, 'Medication?_contained=true&_containedType=contained&_id=m1&_include=Medication:manufacturer');
    expect(b.entry.map((e: any) => [e.search.mode, e.resource.resourceType])).toEqual([['match', 'Medication'], ['include', 'Organization']]);
  });

  it('$reindex rebuilds the rows of contained resources', async () => {
    await t.db.query(`DELETE FROM search_index_contained WHERE container_type = 'DiagnosticReport'`);
    expect(await matches('Observation?_contained=true&code=718-7')).toEqual([]);
    const res = await t.http.post('/fhir/$reindex').set('Content-Type', 'application/fhir+json').send({ resourceType: 'Parameters', parameter: [{ name: 'type', valueString: 'DiagnosticReport' }] });
    expect(res.status).toBe(200);
    expect(await matches('Observation?_contained=true&code=718-7')).toEqual([`DiagnosticReport/${r.report}`]);
  });

  it('updating or deleting the container replaces or removes its contained resources', async () => {
    const id = await create(t, request([med('x', '555', '385055001')], 'x'));
    expect(await matches('Medication?_contained=true&code=555')).toEqual([`MedicationRequest/${id}`]);
    const put = await t.http.put(`/fhir/MedicationRequest/${id}`).send({ ...request([med('x', '556', '385055001')], 'x'), id });
    expect(put.status).toBe(200);
    expect(await matches('Medication?_contained=true&code=555')).toEqual([]);
    expect(await matches('Medication?_contained=true&code=556')).toEqual([`MedicationRequest/${id}`]);
    expect((await t.http.delete(`/fhir/MedicationRequest/${id}`)).status).toBeLessThan(300);
    expect(await matches('Medication?_contained=true&code=556')).toEqual([]);
  });

  it('_sort with containers is refused (400), or ignored and reported when lenient', async () => {
    const res = await t.http.get('/fhir/Medication?_contained=true&_sort=code');
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    const lenient = await search(t, 'Medication?_contained=true&_sort=code&code=1049221', { Prefer: 'handling=lenient' });
    expect(lenient.entry.filter((e: any) => e.search.mode === 'outcome')).toHaveLength(1);
    expect(lenient.link[0].url).not.toContain('_sort');
    expect((await t.http.get('/fhir/Medication?_contained=maybe')).status).toBe(400);
  });

  it('a contained resource is visible only when its container is (auth restriction)', async () => {
    const svc = t.app.get(SearchService);
    const ctx: RequestContext = { baseUrl: t.baseUrl, requestId: 'test', prefer: {} };
    const run = async (restriction: SearchRestriction) => {
      const res = await svc.search(ctx, { resourceType: 'Medication', params: [['_contained', 'true'], ['_containedType', 'contained']], restriction });
      return (JSON.parse(res.body as string).entry ?? []).map((e: any) => e.fullUrl.slice(t.baseUrl.length + 1)).sort();
    };
    expect(await run({ criteriaFor: () => [] })).toHaveLength(3);
    const onlyMr1: SearchRestriction = { criteriaFor: (type) => (type === 'MedicationRequest' ? [[['_id', r.mr1]]] : []) };
    expect(await run(onlyMr1)).toEqual([`MedicationRequest/${r.mr1}#m1`]);
    const noRequests: SearchRestriction = { criteriaFor: (type) => (type === 'MedicationRequest' ? false : []) };
    expect(await run(noRequests)).toEqual([]);
  });
});

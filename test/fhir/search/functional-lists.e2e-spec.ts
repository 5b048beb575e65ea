import type { RequestContext } from '../../../src/fhir/rest/request-context';
import { SearchRestriction, SearchService } from '../../../src/fhir/search/search.service';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { create } from './search-helpers';

/**
 * Functional lists (search.html#list: `_list=$current-allergies`; list.html "Current Resource
 * Lists"): the items of the patient's current List of that function (List.status `current`, a
 * List.code of the function, List.subject the patient). The expected answers are computed from
 * the Lists this test writes: the items of the current Lists of the function and patient.
 */
describe('_list with functional lists (search.html#list)', () => {
  let t: TestApp;
  const r: Record<string, string> = {};
  const ALLERGY_LOINC = { system: 'http://loinc.org', code: '52472-8' };
  const USE = 'http://terminology.hl7.org/CodeSystem/list-example-use-codes';
  const ids = async (url: string, headers: Record<string, string> = {}) => {
    const res = await t.http.get(`/fhir/${url}`).set(headers);
    expect(res.status).toBe(200);
    return (res.body.entry ?? []).filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.id).sort();
  };
  const sorted = (...xs: string[]) => [...xs].sort();
  const list = (subject: string, status: string, coding: object, items: string[]) => ({
    resourceType: 'List',
    status,
    mode: 'working',
    code: { coding: [coding] },
    subject: { reference: `Patient/${subject}` },
    entry: items.map((i) => ({ item: { reference: i } })),
  });
  const allergy = (p: string, category: string) => ({ resourceType: 'AllergyIntolerance', patient: { reference: `Patient/${p}` }, category: [category], code: { text: category } });

  beforeAll(async () => {
    t = await startTestApp();
    r.a = await create(t, { resourceType: 'Patient', name: [{ family: 'Funclist' }] });
    r.b = await create(t, { resourceType: 'Patient', name: [{ family: 'Funclist' }] });
    r.aFood = await create(t, allergy(r.a, 'food'));
    r.aDrug = await create(t, allergy(r.a, 'medication'));
    r.aOld = await create(t, allergy(r.a, 'environment'));
    r.bDrug = await create(t, allergy(r.b, 'medication'));
    r.aProblem = await create(t, { resourceType: 'Condition', subject: { reference: `Patient/${r.a}` }, code: { text: 'on the list' } });
    r.aOther = await create(t, { resourceType: 'Condition', subject: { reference: `Patient/${r.a}` }, code: { text: 'not on it' } });
    r.aMed = await create(t, { resourceType: 'MedicationStatement', status: 'active', subject: { reference: `Patient/${r.a}` }, medicationCodeableConcept: { text: 'x' } });
    r.listA = await create(t, list(r.a, 'current', ALLERGY_LOINC, [`AllergyIntolerance/${r.aFood}`, `AllergyIntolerance/${r.aDrug}`]));
    r.retiredA = await create(t, list(r.a, 'retired', ALLERGY_LOINC, [`AllergyIntolerance/${r.aOld}`]));
    r.listB = await create(t, list(r.b, 'current', { system: USE, code: 'allergies' }, [`AllergyIntolerance/${r.bDrug}`]));
    await create(t, list(r.a, 'current', { system: 'http://loinc.org', code: '11450-4' }, [`Condition/${r.aProblem}`]));
    await create(t, list(r.a, 'current', { system: USE, code: 'medications' }, [`MedicationStatement/${r.aMed}`]));
  });
  afterAll(async () => t.close());

  it('the patient named by the search: the items of their current List of that function', async () => {
    expect(await ids(`AllergyIntolerance?patient=${r.a}&_list=$current-allergies`)).toEqual(sorted(r.aFood, r.aDrug));
    expect(await ids(`AllergyIntolerance?patient=Patient/${r.b}&_list=$current-allergies`)).toEqual([r.bDrug]);
    expect(await ids(`AllergyIntolerance?patient=${t.baseUrl}/Patient/${r.b}&_list=$current-allergies`)).toEqual([r.bDrug]);
    expect(await ids(`Condition?patient=${r.a}&_list=$current-problems`)).toEqual([r.aProblem]);
    expect(await ids(`MedicationStatement?subject=Patient/${r.a}&_list=$current-medications`)).toEqual([r.aMed]);
    // a retired List is no current list
    expect(await ids(`AllergyIntolerance?patient=${r.a}&_list=$current-allergies`)).not.toContain(r.aOld);
  });

  it('drug allergies: the allergy list\'s items of category medication', async () => {
    expect(await ids(`AllergyIntolerance?patient=${r.a}&_list=$current-drug-allergies`)).toEqual([r.aDrug]);
    expect((await t.http.get(`/fhir/Condition?patient=${r.a}&_list=$current-drug-allergies`)).status).toBe(400);
  });

  it('in the Patient compartment the compartment\'s patient; with no patient, every current list of the function', async () => {
    expect(await ids(`Patient/${r.a}/AllergyIntolerance?_list=$current-allergies`)).toEqual(sorted(r.aFood, r.aDrug));
    expect(await ids('AllergyIntolerance?_list=$current-allergies')).toEqual(sorted(r.aFood, r.aDrug, r.bDrug));
  });

  it('OR with a List id; the self link keeps the functional list', async () => {
    expect(await ids(`AllergyIntolerance?patient=${r.a}&_list=${r.retiredA},$current-allergies`)).toEqual(sorted(r.aFood, r.aDrug, r.aOld));
    const res = await t.http.get(`/fhir/AllergyIntolerance?patient=${r.a}&_list=$current-allergies`);
    const self = res.body.link.find((l: any) => l.relation === 'self').url;
    expect(new URL(self).searchParams.get('_list')).toBe('$current-allergies');
  });

  it('an unknown functional list is 400, or ignored and reported under Prefer: handling=lenient (search.html#errors)', async () => {
    const bad = await t.http.get(`/fhir/AllergyIntolerance?patient=${r.a}&_list=$current-nothing`);
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].diagnostics).toMatch(/\$current-nothing/);
    const lenient = await t.http.get(`/fhir/AllergyIntolerance?patient=${r.a}&_list=$current-nothing`).set('Prefer', 'handling=lenient');
    expect(lenient.status).toBe(200);
    expect(lenient.body.entry.find((e: any) => e.search.mode === 'outcome').resource.issue[0].severity).toBe('warning');
  });

  it('the Lists are read under the caller\'s restriction: another patient\'s list selects nothing', async () => {
    const onlyB: SearchRestriction = { criteriaFor: (type) => (type === 'Patient' ? [[['_id', r.b]]] : [[['_compartment', `Patient/${r.b}`]]]) };
    const ctx: RequestContext = { baseUrl: t.baseUrl, requestId: 'test', prefer: {} };
    const search = t.app.get(SearchService);
    const run = async (params: [string, string][]) => {
      const b = JSON.parse((await search.search(ctx, { resourceType: 'AllergyIntolerance', params, restriction: onlyB })).body as string);
      return (b.entry ?? []).map((e: any) => e.resource.id).sort();
    };
    expect(await run([['_list', '$current-allergies']])).toEqual([r.bDrug]);
    expect(await run([['patient', r.a], ['_list', '$current-allergies']])).toEqual([]);
  });
});

import type { RequestContext } from '../../../src/fhir/rest/request-context';
import { SearchRestriction, SearchService } from '../../../src/fhir/search/search.service';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, sorted } from './search-helpers';

// The auth-imposed SearchRestriction (SMART scopes as search criteria) applies in SQL to every resource
// a search touches: matches, _include/_revinclude, chains and _has; `_compartment=Patient/<id>` limits
// to the Patient compartment (CompartmentDefinition-patient). findMatches serves conditional interactions.
describe('SearchRestriction and findMatches', () => {
  let t: TestApp;
  let search: SearchService;
  const r: Record<string, string> = {};
  const ctx = (): RequestContext => ({ baseUrl: t.baseUrl, requestId: 'test', prefer: {} });
  const run = async (resourceType: string, params: [string, string][], restriction?: SearchRestriction) => {
    const res = await search.search(ctx(), { resourceType, params, restriction });
    const b = JSON.parse(res.body as string);
    const by = (m: string) => (b.entry ?? []).filter((e: any) => e.search.mode === m).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
    return { match: by('match'), include: by('include') };
  };
  /** patient/*.rs for alice: every type in her compartment; her own Patient by id. */
  const alice = (): SearchRestriction => ({
    criteriaFor: (type) => (type === 'Patient' ? [[['_id', r.alice]], [['_compartment', `Patient/${r.alice}`]]] : [[['_compartment', `Patient/${r.alice}`]]]),
  });

  beforeAll(async () => {
    t = await startTestApp();
    search = t.app.get(SearchService);
    r.alice = await create(t, { resourceType: 'Patient', name: [{ family: 'Alison' }], identifier: [{ system: 'urn:mrn', value: 'A1' }] });
    r.bob = await create(t, { resourceType: 'Patient', name: [{ family: 'Alibob' }], identifier: [{ system: 'urn:mrn', value: 'B1' }] });
    const obs = (p: string, code: string, category: string) => ({
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
      code: { coding: [{ system: 'http://loinc.org', code }] },
      subject: { reference: `Patient/${p}` },
    });
    r.aliceVital = await create(t, obs(r.alice, '8867-4', 'vital-signs'));
    r.aliceLab = await create(t, obs(r.alice, '2345-7', 'laboratory'));
    r.bobVital = await create(t, obs(r.bob, '8867-4', 'vital-signs'));
  });
  afterAll(async () => t.close());

  it('limits matches to the patient compartment and the granular filter', async () => {
    expect((await run('Observation', [], alice())).match).toEqual(sorted([`Observation/${r.aliceVital}`, `Observation/${r.aliceLab}`]));
    const vitalsOnly: SearchRestriction = { criteriaFor: () => [[['_compartment', `Patient/${r.alice}`], ['category', 'vital-signs']]] };
    expect((await run('Observation', [], vitalsOnly)).match).toEqual([`Observation/${r.aliceVital}`]);
    expect((await run('Patient', [['name', 'ali']], alice())).match).toEqual([`Patient/${r.alice}`]);
  });

  it('bounds _filter and several values like any other criteria (not, or, code=a,b)', async () => {
    const both = sorted([`Observation/${r.aliceVital}`, `Observation/${r.aliceLab}`]);
    expect((await run('Observation', [['_filter', 'not (code eq 9999-9)']], alice())).match).toEqual(both);
    expect((await run('Observation', [['_filter', 'code eq 8867-4 or code eq 2345-7']], alice())).match).toEqual(both);
    expect((await run('Observation', [['_filter', 'code eq 8867-4 or category eq laboratory']], alice())).match).toEqual(both);
    expect((await run('Observation', [['code', '8867-4,2345-7']], alice())).match).toEqual(both);
    expect((await run('Observation', [['_filter', 'subject.name co "bob"']], alice())).match).toEqual([]);
  });

  it('applies to _include and _revinclude targets', async () => {
    const observationsOnly: SearchRestriction = { criteriaFor: (type) => (type === 'Observation' ? [] : false) };
    const inc = await run('Observation', [['code', '8867-4'], ['_include', 'Observation:subject']], observationsOnly);
    expect(inc.match).toHaveLength(2);
    expect(inc.include).toEqual([]);
    const rev = await run('Patient', [['_revinclude', 'Observation:subject']], alice());
    expect(rev.match).toEqual([`Patient/${r.alice}`]);
    expect(rev.include).toEqual(sorted([`Observation/${r.aliceVital}`, `Observation/${r.aliceLab}`]));
    const all = await run('Observation', [['_include', 'Observation:subject']], { criteriaFor: (type) => (type === 'Patient' ? [[['_id', r.bob]]] : []) });
    expect(all.include).toEqual([`Patient/${r.bob}`]);
  });

  it('applies to chained targets and to _has sources', async () => {
    // bob's Patient is out of reach: a chain through it must not reveal which Observations are his
    const noBob: SearchRestriction = { criteriaFor: (type) => (type === 'Patient' ? [[['_id', r.alice]]] : []) };
    expect((await run('Observation', [['subject:Patient.identifier', 'urn:mrn|B1']], noBob)).match).toEqual([]);
    expect((await run('Observation', [['subject:Patient.identifier', 'urn:mrn|A1']], noBob)).match).toHaveLength(2);
    const noLabs: SearchRestriction = { criteriaFor: (type) => (type === 'Observation' ? [[['category', 'vital-signs']]] : []) };
    expect((await run('Patient', [['_has:Observation:subject:code', '2345-7']], noLabs)).match).toEqual([]);
    expect((await run('Patient', [['_has:Observation:subject:code', '8867-4']], noLabs)).match).toEqual(sorted([`Patient/${r.alice}`, `Patient/${r.bob}`]));
  });

  it('a type the restriction forbids: 403 at type level, left out at system level', async () => {
    const noPatients: SearchRestriction = { criteriaFor: (type) => (type === 'Patient' ? false : []) };
    await expect(search.search(ctx(), { resourceType: 'Patient', params: [], restriction: noPatients })).rejects.toMatchObject({ status: 403 });
    const res = await search.search(ctx(), { params: [['_type', 'Patient,Observation']], restriction: noPatients });
    const types = JSON.parse(res.body as string).entry.map((e: any) => e.resource.resourceType);
    expect(types.length).toBe(3);
    expect(new Set(types)).toEqual(new Set(['Observation']));
  });

  it('findMatches: conditional-reference style queries, limit, restriction, inside a transaction', async () => {
    expect(await search.findMatches('Patient', [['identifier', 'urn:mrn|A1']])).toEqual([{ resourceType: 'Patient', id: r.alice, versionId: 1 }]);
    expect(await search.findMatches('Patient', [['name', 'ali']], { limit: 1 })).toHaveLength(1);
    expect(await search.findMatches('Observation', [['code', '8867-4']], { restriction: alice() })).toEqual([{ resourceType: 'Observation', id: r.aliceVital, versionId: 1 }]);
    await expect(search.findMatches('Patient', [['colour', 'red']])).rejects.toMatchObject({ status: 400 });
    const inTx = await t.db.transaction((tx) => search.findMatches('Patient', [['identifier', 'urn:mrn|B1']], { q: tx }));
    expect(inTx.map((m) => m.id)).toEqual([r.bob]);
  });

  // last: it adds Observations the tests above count
  it('bounds the other compartments too (Encounter/x/Observation, Encounter/x/*), with criteria no index anchors', async () => {
    // compartmentdefinition-encounter: Observation by `encounter`; the Encounter itself ({def})
    const encA = await create(t, { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${r.alice}` } });
    const inEnc = (p: string, status: string) => ({
      resourceType: 'Observation',
      status,
      code: { text: 'x' },
      subject: { reference: `Patient/${p}` },
      encounter: { reference: `Encounter/${encA}` },
    });
    const alicesFinal = await create(t, inEnc(r.alice, 'final'));
    const alicesPreliminary = await create(t, inEnc(r.alice, 'preliminary'));
    const bobs = await create(t, inEnc(r.bob, 'final')); // Bob's result (wrongly) in Alice's encounter
    const inCompartment = async (resourceType: string | undefined, params: [string, string][], restriction?: SearchRestriction) => {
      const res = await search.search(ctx(), { resourceType, params, compartment: { resourceType: 'Encounter', id: encA }, restriction });
      return (JSON.parse(res.body as string).entry ?? []).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
    };
    const obs = (...ids: string[]) => ids.map((id) => `Observation/${id}`);
    expect(await inCompartment('Observation', [])).toEqual(sorted(obs(alicesFinal, alicesPreliminary, bobs)));
    expect(await inCompartment('Observation', [], alice())).toEqual(sorted(obs(alicesFinal, alicesPreliminary)));
    expect(await inCompartment('Observation', [['status:not', 'preliminary']], alice())).toEqual(obs(alicesFinal));
    expect(await inCompartment(undefined, [], alice())).toEqual(sorted([`Encounter/${encA}`, ...obs(alicesFinal, alicesPreliminary)]));
    expect(await inCompartment(undefined, [['_lastUpdated', 'gt2000-01-01']], alice())).toEqual(sorted([`Encounter/${encA}`, ...obs(alicesFinal, alicesPreliminary)]));
    expect(await inCompartment(undefined, [['_tag:missing', 'true'], ['_count', '1']], alice())).toHaveLength(1);
    expect(await inCompartment(undefined, [['_tag:missing', 'true']])).toEqual(sorted([`Encounter/${encA}`, ...obs(alicesFinal, alicesPreliminary, bobs)]));
    // only Bob's data: his token sees his Observation, not Alice's Encounter
    const bob: SearchRestriction = { criteriaFor: (type) => (type === 'Patient' ? [[['_id', r.bob]]] : [[['_compartment', `Patient/${r.bob}`]]]) };
    expect(await inCompartment(undefined, [], bob)).toEqual(obs(bobs));
  });
});

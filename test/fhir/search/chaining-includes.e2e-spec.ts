import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, search, sorted } from './search-helpers';

// R4 search.html#chaining, #has (reverse chaining), #include / #revinclude (with :iterate and *),
// compartment search (http.html#vsearch, CompartmentDefinition-patient) and system-level _type.
describe('chaining, reverse chaining, includes, compartments (search.html)', () => {
  let t: TestApp;
  const r: Record<string, string> = {};
  beforeAll(async () => {
    t = await startTestApp();
    r.org = await create(t, { resourceType: 'Organization', name: 'Chain General Hospital' });
    r.otherOrg = await create(t, { resourceType: 'Organization', name: 'Elsewhere Clinic' });
    r.peter = await create(t, { resourceType: 'Patient', name: [{ family: 'Chalmers', given: ['Peter'] }], managingOrganization: { reference: `Organization/${r.org}` } });
    r.jane = await create(t, { resourceType: 'Patient', name: [{ family: 'Doe', given: ['Jane'] }], managingOrganization: { reference: `Organization/${r.otherOrg}` } });
    r.dr = await create(t, { resourceType: 'Practitioner', name: [{ family: 'Welby' }] });
    const obs = (subject: string, code: string, extra: object = {}) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code }] },
      subject: { reference: subject },
      ...extra,
    });
    r.peterHr = await create(t, obs(`Patient/${r.peter}`, '8867-4', { performer: [{ reference: `Practitioner/${r.dr}` }] }));
    r.peterBw = await create(t, obs(`Patient/${r.peter}`, '29463-7'));
    r.janeHr = await create(t, obs(`Patient/${r.jane}`, '8867-4'));
    r.enc = await create(t, { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${r.peter}` } });
    r.peterCond = await create(t, { resourceType: 'Condition', subject: { reference: `Patient/${r.peter}` }, encounter: { reference: `Encounter/${r.enc}` }, code: { text: 'flu' } });
    r.prov = await create(t, { resourceType: 'Provenance', target: [{ reference: `Observation/${r.peterHr}` }], recorded: '2021-01-01T00:00:00Z', agent: [{ who: { reference: `Practitioner/${r.dr}` } }] });
  });
  afterAll(async () => t.close());

  it('chains through a reference to the target’s parameters, with or without the type modifier, several levels deep', async () => {
    expect(await ids(t, 'Observation?subject:Patient.name=peter')).toEqual(sorted([r.peterHr, r.peterBw]));
    expect(await ids(t, 'Observation?patient.name=peter&code=8867-4')).toEqual([r.peterHr]);
    expect(await ids(t, 'Observation?subject.given=jane')).toEqual([r.janeHr]);
    expect(await ids(t, 'Observation?subject:Patient.organization.name=chain general')).toEqual(sorted([r.peterHr, r.peterBw]));
    expect(await ids(t, `Observation?subject:Patient._id=${r.jane}`)).toEqual([r.janeHr]);
    expect(await ids(t, 'Observation?subject:Patient.name=nobody')).toEqual([]);
  });

  it('reverse chaining (_has) finds resources referred to by matching resources, nested', async () => {
    expect(await ids(t, 'Patient?_has:Observation:patient:code=29463-7')).toEqual([r.peter]);
    expect(await ids(t, 'Patient?_has:Observation:subject:code=8867-4')).toEqual(sorted([r.peter, r.jane]));
    expect(await ids(t, `Patient?_has:Observation:subject:performer=Practitioner/${r.dr}`)).toEqual([r.peter]);
    // Patients with an Observation that has a Provenance recorded by the practitioner
    expect(await ids(t, `Patient?_has:Observation:subject:_has:Provenance:target:agent=Practitioner/${r.dr}`)).toEqual([r.peter]);
    expect(await ids(t, 'Organization?_has:Patient:organization:name=jane')).toEqual([r.otherOrg]);
  });

  it('_include adds the referenced resources with search.mode=include; _revinclude the referring ones', async () => {
    const b = await search(t, `Observation?_id=${r.peterHr}&_include=Observation:subject&_include=Observation:performer`);
    const mode = (m: string) => b.entry.filter((e: any) => e.search.mode === m).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
    expect(mode('match')).toEqual([`Observation/${r.peterHr}`]);
    expect(mode('include')).toEqual(sorted([`Patient/${r.peter}`, `Practitioner/${r.dr}`]));
    const typed = await search(t, `Observation?_id=${r.peterHr}&_include=Observation:performer:Organization`);
    expect(typed.entry.filter((e: any) => e.search.mode === 'include')).toEqual([]);
    const rev = await search(t, `Patient?_id=${r.peter}&_revinclude=Observation:subject&_revinclude=Condition:patient`);
    expect(rev.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => e.resource.id).sort()).toEqual(sorted([r.peterHr, r.peterBw, r.peterCond]));
  });

  it('* includes every reference; :iterate follows the included resources too', async () => {
    const all = await search(t, `Condition?_id=${r.peterCond}&_include=Condition:*`);
    expect(all.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => e.resource.id).sort()).toEqual(sorted([r.peter, r.enc]));
    const once = await search(t, `Observation?_id=${r.peterHr}&_include=Observation:subject&_include=Patient:organization`);
    expect(once.entry.map((e: any) => e.resource.id)).not.toContain(r.org); // Patient:organization applies to matches only
    const iter = await search(t, `Observation?_id=${r.peterHr}&_include=Observation:subject&_include:iterate=Patient:organization`);
    expect(iter.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => e.resource.id).sort()).toEqual(sorted([r.peter, r.org]));
    const revIter = await search(t, `Organization?_id=${r.org}&_revinclude=Patient:organization&_revinclude:iterate=Observation:subject`);
    expect(revIter.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => e.resource.id).sort()).toEqual(sorted([r.peter, r.peterHr, r.peterBw]));
  });

  it(':iterate follows references level by level, up to the server\'s depth, and says when it stopped (search.html#include)', async () => {
    // a chain of panels, each a member of the one before: o0 → o1 → … → o7
    const chain: string[] = [];
    for (let i = 7; i >= 0; i--) {
      const member = chain.length ? [{ reference: `Observation/${chain[0]}` }] : undefined;
      chain.unshift(await create(t, { resourceType: 'Observation', status: 'final', code: { text: `panel ${i}` }, hasMember: member }));
    }
    const b = await search(t, `Observation?_id=${chain[0]}&_include:iterate=Observation:has-member`);
    const included = b.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => e.resource.id);
    // the matches' own includes plus MAX_INCLUDE_ITERATIONS (4) more levels: o1 … o5, in order
    expect(included).toEqual(chain.slice(1, 6));
    const outcome = b.entry.find((e: any) => e.search.mode === 'outcome')?.resource;
    expect(outcome.issue[0].diagnostics).toMatch(/:iterate followed references 4 levels deep/);
    // a chain that ends within the depth carries no such warning
    const short = await search(t, `Observation?_id=${chain[4]}&_include:iterate=Observation:has-member`);
    expect(short.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => e.resource.id)).toEqual(chain.slice(5));
    expect(short.entry.some((e: any) => e.search.mode === 'outcome')).toBe(false);
    // nor one that ends exactly at the depth (o3 … o7: five levels, nothing past o7)
    const exact = await search(t, `Observation?_id=${chain[2]}&_include:iterate=Observation:has-member`);
    expect(exact.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => e.resource.id)).toEqual(chain.slice(3));
    expect(exact.entry.some((e: any) => e.search.mode === 'outcome')).toBe(false);
  });

  // search.html#revinclude: "_include and _revinclude use the wild card "*" for the search parameter name,
  // indicating that any search parameter of type=reference be included"
  it('_revinclude=* and *:* include every resource of any type referring to a match', async () => {
    const included = (b: any) => b.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
    const peter = sorted([`Observation/${r.peterHr}`, `Observation/${r.peterBw}`, `Encounter/${r.enc}`, `Condition/${r.peterCond}`]);
    expect(included(await search(t, `Patient?_id=${r.peter}&_revinclude=*`))).toEqual(peter);
    expect(included(await search(t, `Patient?_id=${r.peter}&_revinclude=*:*`))).toEqual(peter);
    // several types matched (a practitioner: performer and Provenance.agent), and :iterate
    expect(included(await search(t, `Practitioner?_id=${r.dr}&_revinclude=*`))).toEqual(sorted([`Observation/${r.peterHr}`, `Provenance/${r.prov}`]));
    const iter = await search(t, `Organization?_id=${r.org}&_revinclude=*&_revinclude:iterate=*`);
    expect(included(iter)).toEqual(sorted([`Patient/${r.peter}`, ...peter, `Provenance/${r.prov}`]));
  });

  it('compartment search returns the compartment members of a type, with further criteria', async () => {
    expect(await ids(t, `Patient/${r.peter}/Observation`)).toEqual(sorted([r.peterHr, r.peterBw]));
    expect(await ids(t, `Patient/${r.peter}/Observation?code=29463-7`)).toEqual([r.peterBw]);
    expect(await ids(t, `Patient/${r.peter}/Condition`)).toEqual([r.peterCond]);
    expect(await ids(t, `Patient/${r.jane}/Encounter`)).toEqual([]);
    const self = (await search(t, `Patient/${r.peter}/Observation?code=29463-7`)).link[0].url;
    expect(self).toBe(`${t.baseUrl}/Patient/${r.peter}/Observation?code=29463-7`);
  });

  // http.html#search / search.html#compartments: `GET [base]/Patient/[id]/*` searches every type of the
  // compartment; every GET search has its `POST …/_search` form (a form body)
  it('compartment search over every type (Patient/[id]/*) and by POST …/[type]/_search', async () => {
    const all = await search(t, `Patient/${r.peter}/*`);
    expect(all.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort()).toEqual(
      sorted([`Patient/${r.peter}`, `Observation/${r.peterHr}`, `Observation/${r.peterBw}`, `Encounter/${r.enc}`, `Condition/${r.peterCond}`]),
    );
    expect(all.link[0].url).toBe(`${t.baseUrl}/Patient/${r.peter}/*`);
    expect(await ids(t, `Patient/${r.peter}/*?_type=Condition,Encounter`)).toEqual(sorted([r.peterCond, r.enc]));
    expect(await ids(t, `Patient/${r.peter}/*?_lastUpdated=gt2000&_type=Observation`)).toEqual(sorted([r.peterHr, r.peterBw]));
    expect((await t.http.get(`/fhir/Patient/${r.peter}/*?_type=Organization`)).status).toBe(400);
    const post = await t.http.post(`/fhir/Patient/${r.peter}/Observation/_search`).type('form').send({ code: '29463-7' });
    expect(post.status).toBe(200);
    expect(post.body.entry.map((e: any) => e.resource.id)).toEqual([r.peterBw]);
    expect(post.body.link[0].url).toBe(`${t.baseUrl}/Patient/${r.peter}/Observation?code=29463-7`);
  });

  it('system-level search over _type, with the parameters common to those types', async () => {
    const b = await search(t, `?_type=Patient,Practitioner&_id=${r.peter},${r.dr}`);
    expect(b.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort()).toEqual(sorted([`Patient/${r.peter}`, `Practitioner/${r.dr}`]));
    expect((await t.http.get('/fhir?_type=Patient,Nonsense')).status).toBe(400);
    const any = await search(t, `?_id=${r.org}`);
    expect(any.entry.map((e: any) => e.resource.resourceType)).toEqual(['Organization']);
    // _type is a system-level parameter: at type level it is not applied, so it is refused (search.html
    // "unknown parameters"), or under lenient handling ignored, reported and left out of the self link
    expect((await t.http.get(`/fhir/Patient?_type=Practitioner&_id=${r.dr}`)).status).toBe(400);
    expect((await t.http.get(`/fhir/Patient/${r.peter}/Observation?_type=Condition`)).status).toBe(400);
    const lenient = await t.http.get(`/fhir/Patient?_type=Practitioner&_id=${r.peter}`).set('Prefer', 'handling=lenient');
    expect(lenient.status).toBe(200);
    const matched = lenient.body.entry.filter((e: any) => e.search.mode === 'match');
    expect(matched.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`)).toEqual([`Patient/${r.peter}`]);
    expect(lenient.body.link[0].url).toBe(`${t.baseUrl}/Patient?_id=${r.peter}`);
    expect(JSON.stringify(lenient.body.entry.find((e: any) => e.search.mode === 'outcome'))).toContain('_type applies to system-level search only');
  });

  // a chain whose own criterion can drive the search (an identifier) is answered from its targets first
  // (CriteriaSql.chainSource): the same matches, and an alias limited to Patients (`patient`) still
  // excludes a Group subject with the same identifier
  it('chains on a target identifier, with other criteria and through a Patient-only alias', async () => {
    const ident = { system: 'urn:chain-test', value: 'mrn-77' };
    const pat = await create(t, { resourceType: 'Patient', identifier: [ident] });
    const grp = await create(t, { resourceType: 'Group', type: 'person', actual: true, identifier: [ident] });
    const obs = (subject: string, code: string) => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, subject: { reference: subject } });
    const hr = await create(t, obs(`Patient/${pat}`, 'chain-hr'));
    const bw = await create(t, obs(`Patient/${pat}`, 'chain-bw'));
    const groupHr = await create(t, obs(`Group/${grp}`, 'chain-hr'));
    expect(await ids(t, 'Observation?subject:Patient.identifier=urn:chain-test|mrn-77')).toEqual(sorted([hr, bw]));
    expect(await ids(t, 'Observation?subject:Patient.identifier=urn:chain-test|mrn-77&code=http://loinc.org|chain-hr')).toEqual([hr]);
    expect(await ids(t, 'Observation?code=http://loinc.org|chain-hr&subject.identifier=urn:chain-test|mrn-77')).toEqual(sorted([hr, groupHr]));
    expect(await ids(t, 'Observation?patient.identifier=urn:chain-test|mrn-77&code=http://loinc.org|chain-hr')).toEqual([hr]);
    expect(await ids(t, 'Observation?subject:Patient.identifier=urn:chain-test|other')).toEqual([]);
  });
});

import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

// search.html#chaining and #has through canonical references: R4 reference parameters cover canonical
// elements (references.html#canonical; QuestionnaireResponse.questionnaire, PlanDefinition.action.definition,
// CarePlan.instantiatesCanonical…). A canonical `url|version` names the resource with that `url` and
// `version`; a bare `url` names every resource with that `url` (as `_revinclude` reads it,
// canonical-includes.e2e-spec.ts). A chain follows the reference to the targets its criteria match; `_has`
// is the same relation read from the target.
describe('chaining and _has through canonical references (search.html#chaining, #has)', () => {
  let t: TestApp;
  const r: Record<string, string> = {};
  const Q = 'http://acme.org/Questionnaire/phq';
  const PD = 'http://acme.org/PlanDefinition/intake';
  beforeAll(async () => {
    t = await startTestApp();
    r.p1 = await create(t, { resourceType: 'Patient', name: [{ family: 'One' }] });
    r.p2 = await create(t, { resourceType: 'Patient', name: [{ family: 'Two' }] });
    const questionnaire = (url: string, title: string, version?: string) =>
      create(t, { resourceType: 'Questionnaire', status: 'active', url, title, ...(version ? { version } : {}) });
    r.v1 = await questionnaire(Q, 'Depression screen', '1');
    r.v2 = await questionnaire(Q, 'Mood check', '2');
    // urls that differ from Q by a suffix only (or are a prefix of it), and one without a version
    r.ext = await questionnaire(`${Q}-extended`, 'Anxiety scale', '1');
    r.prefix = await questionnaire('http://acme.org/Questionnaire/ph', 'Prefix form');
    r.unversioned = await questionnaire('http://acme.org/Questionnaire/plain', 'Unversioned form');
    const response = (questionnaire: string, status: string, patient: string) =>
      create(t, { resourceType: 'QuestionnaireResponse', status, questionnaire, subject: { reference: `Patient/${patient}` } });
    r.qrV1 = await response(`${Q}|1`, 'completed', r.p1);
    r.qrV2 = await response(`${Q}|2`, 'in-progress', r.p2);
    r.qrBare = await response(Q, 'completed', r.p2);
    r.qrExt = await response(`${Q}-extended`, 'completed', r.p2);
    r.qrPlain = await response('http://acme.org/Questionnaire/plain|1', 'completed', r.p2);
    r.pd = await create(t, {
      resourceType: 'PlanDefinition', status: 'active', url: PD, version: '3', title: 'Intake plan', action: [{ title: 'ask', definitionCanonical: `${Q}|2` }],
    });
    r.cp = await create(t, { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${r.p1}` }, instantiatesCanonical: [PD] });
    r.cpDraft = await create(t, { resourceType: 'CarePlan', status: 'draft', intent: 'plan', subject: { reference: `Patient/${r.p2}` }, instantiatesCanonical: [`${PD}|9`] });
    r.obs = await create(t, {
      resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${r.p1}` }, basedOn: [{ reference: `CarePlan/${r.cp}` }],
    });
  });
  afterAll(async () => t.close());

  it('search.html#chaining: a bare canonical refers to every resource with that url', async () => {
    expect(await ids(t, 'QuestionnaireResponse?questionnaire.title=Mood')).toEqual(sorted([r.qrV2, r.qrBare]));
    expect(await ids(t, 'QuestionnaireResponse?questionnaire:Questionnaire.title=Depression')).toEqual(sorted([r.qrV1, r.qrBare]));
    expect(await ids(t, `QuestionnaireResponse?questionnaire.url=${Q}`)).toEqual(sorted([r.qrV1, r.qrV2, r.qrBare]));
  });

  it('search.html#chaining: a canonical url|version refers to that version only', async () => {
    // qrV1 names Q|1: v2 (title Mood, version 2) has the same url but is not its target
    expect(await ids(t, `QuestionnaireResponse?questionnaire.url=${Q}|1`)).toEqual(sorted([r.qrV1, r.qrBare]));
    expect(await ids(t, 'QuestionnaireResponse?questionnaire:Questionnaire.version=2')).toEqual(sorted([r.qrV2, r.qrBare]));
    expect(await ids(t, `QuestionnaireResponse?questionnaire.url=${Q}|2`)).toEqual(sorted([r.qrV2, r.qrBare]));
    // a url|version no stored resource has: the resource with that url and no version is not it
    expect(await ids(t, 'QuestionnaireResponse?questionnaire.title=Unversioned')).toEqual([]);
  });

  it('search.html#chaining: no match between urls that differ by a suffix', async () => {
    expect(await ids(t, 'QuestionnaireResponse?questionnaire.title=Anxiety')).toEqual([r.qrExt]);
    expect(await ids(t, 'QuestionnaireResponse?questionnaire.title=Prefix')).toEqual([]);
    expect(await ids(t, `QuestionnaireResponse?questionnaire.url=${Q}-extended`)).toEqual([r.qrExt]);
  });

  it('search.html#chaining: several levels, canonical and literal references mixed', async () => {
    // CarePlan → PlanDefinition (bare url) → Questionnaire (url|version 2)
    expect(await ids(t, 'CarePlan?instantiates-canonical:PlanDefinition.definition:Questionnaire.title=Mood')).toEqual([r.cp]);
    expect(await ids(t, 'CarePlan?instantiates-canonical:PlanDefinition.definition:Questionnaire.title=Depression')).toEqual([]);
    // cpDraft names PD|9, which no PlanDefinition is
    expect(await ids(t, 'CarePlan?instantiates-canonical:PlanDefinition.title=Intake')).toEqual([r.cp]);
    // Observation → CarePlan (literal) → PlanDefinition → Questionnaire
    expect(await ids(t, 'Observation?based-on:CarePlan.instantiates-canonical:PlanDefinition.definition:Questionnaire.title=Mood')).toEqual([r.obs]);
    expect(await ids(t, 'Observation?based-on:CarePlan.instantiates-canonical:PlanDefinition.definition:Questionnaire.title=Depression')).toEqual([]);
  });

  it('search.html#chaining: with ordinary criteria, however the search is planned', async () => {
    expect(await ids(t, 'QuestionnaireResponse?questionnaire.title=Depression&status=completed')).toEqual(sorted([r.qrV1, r.qrBare]));
    expect(await ids(t, 'QuestionnaireResponse?questionnaire.title=Mood&status=completed')).toEqual([r.qrBare]);
    // a reference anchors, the chain is checked per match
    expect(await ids(t, `QuestionnaireResponse?subject=Patient/${r.p1}&questionnaire.title=Depression`)).toEqual([r.qrV1]);
    expect(await ids(t, `QuestionnaireResponse?subject=Patient/${r.p1}&questionnaire.title=Mood`)).toEqual([]);
    // no index source (sorted by _lastUpdated): the chain is a condition on each resource
    expect(await ids(t, 'QuestionnaireResponse?questionnaire.title=Mood&_sort=_lastUpdated')).toEqual(sorted([r.qrV2, r.qrBare]));
    expect(await ids(t, 'QuestionnaireResponse?questionnaire.title:missing=false&status=in-progress')).toEqual([r.qrV2]);
    // a literal chain beside a canonical one
    expect(await ids(t, `QuestionnaireResponse?subject:Patient.family=Two&questionnaire.version=2`)).toEqual(sorted([r.qrV2, r.qrBare]));
  });

  it('search.html#has: resources named by a bare canonical or by their url|version', async () => {
    expect(await ids(t, 'Questionnaire?_has:QuestionnaireResponse:questionnaire:status=in-progress')).toEqual([r.v2]);
    // qrV1 (Q|1) is p1's: not v2, which has the same url
    expect(await ids(t, `Questionnaire?_has:QuestionnaireResponse:questionnaire:subject=Patient/${r.p1}`)).toEqual([r.v1]);
    // p2's responses: qrBare names both versions, qrExt the url with a suffix, qrPlain a version the unversioned one lacks
    expect(await ids(t, `Questionnaire?_has:QuestionnaireResponse:questionnaire:subject=Patient/${r.p2}`)).toEqual(sorted([r.v1, r.v2, r.ext]));
    expect(await ids(t, 'Questionnaire?_has:QuestionnaireResponse:questionnaire:status=completed')).toEqual(sorted([r.v1, r.v2, r.ext]));
  });

  it('search.html#has: nested, and with ordinary criteria', async () => {
    expect(await ids(t, 'Questionnaire?_has:PlanDefinition:definition:_has:CarePlan:instantiates-canonical:status=active')).toEqual([r.v2]);
    expect(await ids(t, 'Questionnaire?_has:PlanDefinition:definition:_has:CarePlan:instantiates-canonical:status=draft')).toEqual([]);
    expect(await ids(t, 'PlanDefinition?_has:CarePlan:instantiates-canonical:_has:Observation:based-on:status=final')).toEqual([r.pd]);
    expect(await ids(t, 'Questionnaire?_has:QuestionnaireResponse:questionnaire:status=completed&title=Mood')).toEqual([r.v2]);
    expect(await ids(t, `Questionnaire?url=${Q}&_has:QuestionnaireResponse:questionnaire:subject=Patient/${r.p1}`)).toEqual([r.v1]);
    expect(await ids(t, 'Questionnaire?_has:QuestionnaireResponse:questionnaire:status=completed&_sort=-_lastUpdated')).toEqual(sorted([r.v1, r.v2, r.ext]));
    // a chain inside _has, through canonicals both ways
    expect(await ids(t, 'Questionnaire?_has:QuestionnaireResponse:questionnaire:questionnaire.title=Mood')).toEqual(sorted([r.v1, r.v2]));
  });

  it('search.html#chaining: a Reference element to a canonical type is literal, its absolute url no canonical', async () => {
    // Flag.subject is a Reference (also to a PlanDefinition): followed by its target, never by a `url`
    const literal = await create(t, { resourceType: 'Flag', status: 'active', code: { text: 'intake' }, subject: { reference: `PlanDefinition/${r.pd}` } });
    const byUrl = await create(t, { resourceType: 'Flag', status: 'active', code: { text: 'intake' }, subject: { reference: PD } });
    expect(await ids(t, 'Flag?subject.title=Intake')).toEqual([literal]);
    expect(await ids(t, 'Flag?subject:PlanDefinition.url=' + PD)).toEqual([literal]);
    expect(await ids(t, `PlanDefinition?_has:Flag:subject:_id=${literal},${byUrl}`)).toEqual([r.pd]);
    expect(await ids(t, `PlanDefinition?_has:Flag:subject:_id=${byUrl}`)).toEqual([]);
    const included = await t.http.get(`/fhir/Flag?_id=${byUrl}&_include=Flag:subject`);
    expect(included.body.entry.map((e: any) => e.resource.resourceType)).toEqual(['Flag']);
  });

  it('search.html#chaining: a canonical under this server\'s base names its resource by id as well', async () => {
    // a canonical `[base]/Questionnaire/[id]` (or relative) is indexed as the reference it also is
    const q = await create(t, { resourceType: 'Questionnaire', status: 'active', title: 'Zeta local' });
    const put = await t.http.put(`/fhir/Questionnaire/${q}`).set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Questionnaire', id: q, status: 'active', title: 'Zeta local', url: `${t.baseUrl}/Questionnaire/${q}` });
    expect(put.status).toBe(200);
    const absolute = await create(t, { resourceType: 'QuestionnaireResponse', status: 'stopped', questionnaire: `${t.baseUrl}/Questionnaire/${q}` });
    const relative = await create(t, { resourceType: 'QuestionnaireResponse', status: 'stopped', questionnaire: `Questionnaire/${q}` });
    expect(await ids(t, 'QuestionnaireResponse?questionnaire.title=Zeta')).toEqual(sorted([absolute, relative]));
    expect(await ids(t, 'Questionnaire?_has:QuestionnaireResponse:questionnaire:status=stopped')).toEqual([q]);
  });
});

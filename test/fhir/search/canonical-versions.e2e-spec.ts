import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

// search.html#versions (R4 §3.1.1.4.x, "canonical|version"): a uri or reference parameter whose target is
// a canonical takes `url|version`, which matches the resource (or reference) with that url *and*
// version; `url` alone matches every version. references.html#canonical: a canonical reference may carry
// `|version` itself.
describe('canonical references with a version (search.html#versions)', () => {
  let t: TestApp;
  const vs: Record<string, string> = {};
  const qr: Record<string, string> = {};
  let prof: string;
  const VS = 'http://example.org/fhir/ValueSet/versions';
  const Q = 'http://example.org/fhir/Questionnaire/intake';
  beforeAll(async () => {
    t = await startTestApp();
    vs.v1 = await create(t, { resourceType: 'ValueSet', url: VS, version: '1.0', status: 'active' });
    vs.v2 = await create(t, { resourceType: 'ValueSet', url: VS, version: '2.0', status: 'active' });
    vs.none = await create(t, { resourceType: 'ValueSet', url: VS, status: 'draft' });
    qr.v1 = await create(t, { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: `${Q}|1.0` });
    qr.v2 = await create(t, { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: `${Q}|2.0` });
    qr.none = await create(t, { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: Q });
    prof = await create(t, { resourceType: 'Basic', meta: { profile: ['http://example.org/fhir/StructureDefinition/basic-x|3.1'] }, code: { text: 'x' } });
  });
  afterAll(async () => t.close());

  it('uri `url|version` on a canonical resource matches that version; `url` alone every version', async () => {
    expect(await ids(t, `ValueSet?url=${VS}|1.0`)).toEqual([vs.v1]);
    expect(await ids(t, `ValueSet?url=${VS}|2.0`)).toEqual([vs.v2]);
    expect(await ids(t, `ValueSet?url=${VS}|3.0`)).toEqual([]);
    expect(await ids(t, `ValueSet?url=${VS}`)).toEqual(sorted(Object.values(vs)));
    expect(await ids(t, `ValueSet?url=${VS}|1.0,${VS}|2.0`)).toEqual(sorted([vs.v1, vs.v2]));
    expect(await ids(t, `ValueSet?url:below=http://example.org/fhir/ValueSet`)).toEqual(sorted(Object.values(vs)));
  });

  it('reference to a canonical: `url|version` matches references to that version; `url` every reference', async () => {
    expect(await ids(t, `QuestionnaireResponse?questionnaire=${Q}|1.0`)).toEqual([qr.v1]);
    expect(await ids(t, `QuestionnaireResponse?questionnaire=${Q}`)).toEqual(sorted(Object.values(qr)));
    expect(await ids(t, `QuestionnaireResponse?questionnaire=${Q}|9`)).toEqual([]);
  });

  it('token :in with `url|version` expands that version of the ValueSet; `url` alone the latest stored', async () => {
    const U = 'http://example.org/fhir/ValueSet/colours';
    const concept = (code: string) => ({ compose: { include: [{ system: 'urn:colours', concept: [{ code }] }] } });
    await create(t, { resourceType: 'ValueSet', url: U, version: '1', status: 'active', ...concept('red') });
    await create(t, { resourceType: 'ValueSet', url: U, version: '2', status: 'active', ...concept('blue') });
    const red = await create(t, { resourceType: 'Basic', code: { coding: [{ system: 'urn:colours', code: 'red' }] } });
    const blue = await create(t, { resourceType: 'Basic', code: { coding: [{ system: 'urn:colours', code: 'blue' }] } });
    expect(await ids(t, `Basic?code:in=${U}|1`)).toEqual([red]);
    expect(await ids(t, `Basic?code:in=${U}|2`)).toEqual([blue]);
    expect(await ids(t, `Basic?code:in=${U}`)).toEqual([blue]);
    expect((await t.http.get(`/fhir/Basic?code:in=${U}|3`)).status).toBe(400);
  });

  it('a uri parameter over a versioned canonical element (meta.profile): with or without the version', async () => {
    const P = 'http://example.org/fhir/StructureDefinition/basic-x';
    expect(await ids(t, `Basic?_profile=${P}`)).toEqual([prof]);
    expect(await ids(t, `Basic?_profile=${P}|3.1`)).toEqual([prof]);
    expect(await ids(t, `Basic?_profile=${P}|3.2`)).toEqual([]);
  });
});

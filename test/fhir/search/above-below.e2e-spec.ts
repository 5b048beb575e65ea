import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { RequestContext } from '../../../src/fhir/rest/request-context';
import { SearchRestriction, SearchService } from '../../../src/fhir/search/search.service';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

const ANIMALS = 'http://example.org/cs/animals';
const animals = (over: object = {}) => ({
  resourceType: 'CodeSystem',
  url: ANIMALS,
  status: 'active',
  content: 'complete',
  hierarchyMeaning: 'is-a',
  concept: [
    { code: 'animal', concept: [{ code: 'mammal', concept: [{ code: 'dog' }, { code: 'cat' }] }, { code: 'bird' }] },
    { code: 'puppy', property: [{ code: 'parent', valueCode: 'dog' }] },
  ],
  ...over,
});

// R4 search.html#token (:above / :below: subsumption in the code system's is-a hierarchy, the code itself
// included) and search.html#uri (:above / :below by URL path; not for URNs).
describe('token and uri :above / :below (search.html#token, #uri)', () => {
  let t: TestApp;
  const c: Record<string, string> = {};
  const condition = (system: string, code: string) => ({ resourceType: 'Condition', subject: { reference: 'Patient/above-below' }, code: { coding: [{ system, code }] } });

  beforeAll(async () => {
    t = await startTestApp();
    c.cs = await create(t, animals());
    for (const code of ['animal', 'mammal', 'dog', 'cat', 'bird', 'puppy']) c[code] = await create(t, condition(ANIMALS, code));
    c.otherDog = await create(t, condition('http://example.org/cs/other', 'dog'));
  });
  afterAll(async () => t.close());

  it(':below matches the code and every code it subsumes, in that system only', async () => {
    expect(await ids(t, `Condition?code:below=${ANIMALS}|mammal`)).toEqual(sorted([c.mammal, c.dog, c.cat, c.puppy]));
    expect(await ids(t, `Condition?code:below=${ANIMALS}|dog`)).toEqual(sorted([c.dog, c.puppy])); // puppy: `parent` property
    expect(await ids(t, `Condition?code:below=${ANIMALS}|bird,${ANIMALS}|cat`)).toEqual(sorted([c.bird, c.cat]));
  });

  it(':above matches the code and every code that subsumes it', async () => {
    expect(await ids(t, `Condition?code:above=${ANIMALS}|puppy`)).toEqual(sorted([c.puppy, c.dog, c.mammal, c.animal]));
    expect(await ids(t, `Condition?code:above=${ANIMALS}|animal`)).toEqual([c.animal]);
    expect(await ids(t, `Condition?code:above=${ANIMALS}|cat&subject=Patient/above-below`)).toEqual(sorted([c.cat, c.mammal, c.animal]));
  });

  it('follows a new version of the stored CodeSystem', async () => {
    const moved = animals({ id: c.cs, concept: [{ code: 'animal', concept: [{ code: 'mammal', concept: [{ code: 'cat' }] }, { code: 'dog' }, { code: 'bird' }] }, { code: 'puppy' }] });
    expect((await t.http.put(`/fhir/CodeSystem/${c.cs}`).send(moved)).status).toBe(200);
    expect(await ids(t, `Condition?code:below=${ANIMALS}|mammal`)).toEqual(sorted([c.mammal, c.cat]));
    expect((await t.http.put(`/fhir/CodeSystem/${c.cs}`).send(animals({ id: c.cs }))).status).toBe(200);
  });

  it('uses the core R4 CodeSystems (condition-ver-status: unconfirmed > provisional, differential)', async () => {
    const status = (code: string) => ({
      ...condition(ANIMALS, 'cat'),
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code }] },
    });
    const prov = await create(t, status('provisional'));
    const conf = await create(t, status('confirmed'));
    const unc = await create(t, status('unconfirmed'));
    const found = await ids(t, 'Condition?verification-status:below=http://terminology.hl7.org/CodeSystem/condition-ver-status|unconfirmed');
    expect(found).toEqual(sorted([prov, unc]));
    expect(found).not.toContain(conf);
  });

  it('a system whose hierarchy is unknown, a code it lacks, or no system: 400 OperationOutcome', async () => {
    const unknown = await t.http.get('/fhir/Condition?code:below=http://snomed.info/sct|73211009');
    expect(unknown.status).toBe(400);
    expect(unknown.body.resourceType).toBe('OperationOutcome');
    expect(unknown.body.issue[0].code).toBe('not-supported');
    expect(unknown.body.issue[0].diagnostics).toContain('http://snomed.info/sct');
    await create(t, animals({ url: 'http://example.org/cs/fragment', content: 'fragment' }));
    expect((await t.http.get('/fhir/Condition?code:below=http://example.org/cs/fragment|dog')).body.issue[0].diagnostics).toContain('fragment');
    await create(t, animals({ url: 'http://example.org/cs/grouped', hierarchyMeaning: 'grouped-by' }));
    expect((await t.http.get('/fhir/Condition?code:below=http://example.org/cs/grouped|dog')).status).toBe(400);
    const lacking = await t.http.get(`/fhir/Condition?code:above=${ANIMALS}|fish`);
    expect(lacking.status).toBe(400);
    expect(lacking.body.issue[0].diagnostics).toContain('fish');
    expect((await t.http.get('/fhir/Condition?code:below=dog')).status).toBe(400);
  });

  it('in an auth restriction :below cannot be applied, so the type stays hidden (fails closed)', async () => {
    const svc = t.app.get(SearchService);
    const ctx: RequestContext = { baseUrl: t.baseUrl, requestId: 'test', prefer: {} };
    const restriction: SearchRestriction = { criteriaFor: (type) => (type === 'Condition' ? [[['code:below', `${ANIMALS}|mammal`]]] : []) };
    await expect(svc.search(ctx, { resourceType: 'Condition', params: [], restriction })).rejects.toMatchObject({ status: 403 });
  });

  describe('uri', () => {
    const q: Record<string, string> = {};
    beforeAll(async () => {
      for (const [k, url] of Object.entries({ root: 'http://acme.org/fhir', vs: 'http://acme.org/fhir/ValueSet/123', deep: 'http://acme.org/fhir/ValueSet/123/x', sibling: 'http://acme.org/fhirx/ValueSet/1', other: 'http://other.org/fhir/ValueSet/123' })) {
        q[k] = await create(t, { resourceType: 'ValueSet', status: 'active', url });
      }
    });

    it(':below matches the URL and the URLs under it, by whole path segments', async () => {
      expect(await ids(t, 'ValueSet?url:below=http://acme.org/fhir/')).toEqual(sorted([q.root, q.vs, q.deep]));
      expect(await ids(t, 'ValueSet?url:below=http://acme.org/fhir')).toEqual(sorted([q.root, q.vs, q.deep]));
      expect(await ids(t, 'ValueSet?url:below=http://acme.org/fhir/ValueSet/12')).toEqual([]);
    });

    it(':above matches the URL and the URLs above it', async () => {
      expect(await ids(t, 'ValueSet?url:above=http://acme.org/fhir/ValueSet/123/_history/5')).toEqual(sorted([q.root, q.vs]));
      expect(await ids(t, 'ValueSet?url:above=http://acme.org/fhirx')).toEqual([]);
    });

    it('URNs take no :above/:below (400); they match exactly', async () => {
      expect((await t.http.get('/fhir/ValueSet?url:below=urn:oid:1.2.3')).status).toBe(400);
      expect((await t.http.get('/fhir/ValueSet?url:above=urn:oid:1.2.3.4')).status).toBe(400);
      const oid = await create(t, { resourceType: 'ValueSet', status: 'active', url: 'urn:oid:1.2.3.4.5' });
      expect(await ids(t, 'ValueSet?url=urn:oid:1.2.3.4.5')).toEqual([oid]);
    });
  });
});

describe('token :below with a CodeSystem from fhir-profiles/', () => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profiles-'));
    fs.writeFileSync(path.join(dir, 'CodeSystem-animals.json'), JSON.stringify(animals({ url: 'http://example.org/cs/from-file' })));
    t = await startTestApp({ FHIR_PROFILES_DIR: dir });
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers from the file', async () => {
    const cat = await create(t, { resourceType: 'Condition', subject: { reference: 'Patient/p' }, code: { coding: [{ system: 'http://example.org/cs/from-file', code: 'cat' }] } });
    await create(t, { resourceType: 'Condition', subject: { reference: 'Patient/p' }, code: { coding: [{ system: 'http://example.org/cs/from-file', code: 'bird' }] } });
    expect(await ids(t, 'Condition?code:below=http://example.org/cs/from-file|mammal')).toEqual([cat]);
  });
});

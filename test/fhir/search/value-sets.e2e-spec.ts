import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

// R4 search.html#token `:in` / `:not-in`: "the search parameter tests whether the coding is in the
// specified value set": a member is a system and a code. A ValueSet the server cannot expand is an
// error (search.html#errors), never a silent answer.
describe('token :in / :not-in (search.html#token)', () => {
  let t: TestApp;
  const c: Record<string, string> = {};
  const cond = (key: string, system: string, code: string, field = 'code') =>
    create(t, { resourceType: 'Condition', subject: { reference: 'Patient/vs1' }, [field]: { coding: [{ system, code }] } }).then((id) => (c[key] = id));
  beforeAll(async () => {
    t = await startTestApp();
    await create(t, {
      resourceType: 'CodeSystem', url: 'http://probe/cs', status: 'active', content: 'complete', hierarchyMeaning: 'is-a',
      concept: [{ code: 'parent', concept: [{ code: 'child1' }, { code: 'child2', concept: [{ code: 'grandchild' }] }] }, { code: 'other' }],
    });
    const vs = (url: string, include: unknown[], exclude?: unknown[]) => create(t, { resourceType: 'ValueSet', url, status: 'active', compose: { include, exclude } });
    await vs('http://probe/vs', [{ system: 'http://probe/cs', concept: [{ code: 'parent' }, { code: 'other' }] }]);
    await vs('http://probe/vs-all', [{ system: 'http://probe/cs' }], [{ system: 'http://probe/cs', concept: [{ code: 'other' }] }]);
    await vs('http://probe/vs-filter', [{ system: 'http://probe/cs', filter: [{ property: 'concept', op: 'is-a', value: 'child2' }] }]);
    await vs('http://probe/vs-regex', [{ system: 'http://probe/cs', filter: [{ property: 'concept', op: 'regex', value: 'c.*' }] }]);
    await vs('http://probe/vs-nocs', [{ system: 'http://probe/unknown-cs' }]);
    await create(t, { resourceType: 'ValueSet', url: 'http://probe/vs-exp', status: 'active', expansion: { timestamp: '2020-01-01', contains: [{ system: 'http://probe/cs', code: 'child1' }] } });
    await cond('other', 'http://probe/cs', 'other');
    await cond('unrelated', 'http://unrelated/system', 'other');
    await cond('parent', 'http://probe/cs', 'parent');
    await cond('child1', 'http://probe/cs', 'child1');
    await cond('grandchild', 'http://probe/cs', 'grandchild');
    await cond('active', 'http://terminology.hl7.org/CodeSystem/condition-clinical', 'active', 'clinicalStatus');
    await cond('bogus', 'http://bogus/system', 'active', 'clinicalStatus');
  });
  afterAll(async () => t.close());

  const q = (p: string) => ids(t, `Condition?subject=Patient/vs1&${p}`);
  const of = (...keys: string[]) => sorted(keys.map((k) => c[k]));

  it('matches system and code of an enumerated ValueSet: the same code in another system is not in it', async () => {
    expect(await q('code:in=http://probe/vs')).toEqual(of('other', 'parent'));
    expect(await q('code:not-in=http://probe/vs')).toEqual(of('unrelated', 'child1', 'grandchild', 'active', 'bogus'));
    // a core R4 ValueSet (a whole core CodeSystem)
    expect(await q('clinical-status:in=http://hl7.org/fhir/ValueSet/condition-clinical')).toEqual(of('active'));
    expect(await q('clinical-status:not-in=http://hl7.org/fhir/ValueSet/condition-clinical&clinical-status:missing=false')).toEqual(of('bogus'));
  });

  it('expands a whole stored CodeSystem (with excludes), is-a filters and a stored expansion', async () => {
    expect(await q('code:in=http://probe/vs-all')).toEqual(of('parent', 'child1', 'grandchild'));
    expect(await q('code:not-in=http://probe/vs-all&code:missing=false')).toEqual(of('other', 'unrelated'));
    expect(await q('code:in=http://probe/vs-filter')).toEqual(of('grandchild'));
    expect(await q('code:in=http://probe/vs-exp')).toEqual(of('child1'));
    // _filter's `in` is the same test
    expect(await q('_filter=code in "http://probe/vs-filter"')).toEqual(of('grandchild'));
  });

  it('a ValueSet it cannot expand, or does not know, is a 400 OperationOutcome', async () => {
    for (const url of ['http://probe/vs-regex', 'http://probe/vs-nocs', 'http://no/such/vs']) {
      for (const m of ['in', 'not-in']) {
        const res = await t.http.get(`/fhir/Condition?code:${m}=${encodeURIComponent(url)}`);
        expect([url, res.status, res.body.resourceType]).toEqual([url, 400, 'OperationOutcome']);
        expect(res.body.issue[0].diagnostics).toMatch(/ValueSet http:\/\/(probe|no)\/|hierarchy of http:\/\/probe\/unknown-cs/);
      }
    }
  });
});

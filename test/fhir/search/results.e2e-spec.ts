import { startTestApp, TestApp } from '../../helpers/test-app';
import { allPages, create, ids, matchIds, search, sorted } from './search-helpers';

// R4 search.html#sort, #count, #total, #summary, #elements, paging (http.html#paging, search.html#count),
// POST _search (search.html#search), and the self link (search.html#selflink).
describe('result parameters and paging (search.html)', () => {
  let t: TestApp;
  const s: { id: string; date: string; family: string }[] = [];
  beforeAll(async () => {
    t = await startTestApp();
    const rows: [string, string][] = [
      ['2020-01-05', 'Baker'],
      ['2021-03-01', 'Adams'],
      ['2019-07-20', 'Clark'],
      ['2021-03-01', 'Baker'],
      ['2022-11-11', 'Adams'],
    ];
    for (const [date, family] of rows) {
      const id = await create(t, { resourceType: 'Specimen', collection: { collectedDateTime: date }, note: [{ text: family }], subject: { reference: 'Patient/sorter' } });
      s.push({ id, date, family });
    }
    // a second sort key from a string parameter: Patients
    for (const [date, family] of rows) await create(t, { resourceType: 'Patient', birthDate: date, name: [{ family }] });
  });
  afterAll(async () => t.close());

  it('_sort by a date parameter, ascending and descending (-), ties in id order', async () => {
    const asc = matchIds(await search(t, 'Specimen?_sort=collected'));
    const expected = [...s].sort((a, b) => a.date.localeCompare(b.date) || a.id.localeCompare(b.id)).map((x) => x.id);
    expect(asc).toEqual(expected);
    const desc = matchIds(await search(t, 'Specimen?_sort=-collected'));
    expect(desc).toEqual([...s].sort((a, b) => b.date.localeCompare(a.date) || a.id.localeCompare(b.id)).map((x) => x.id));
  });

  it('_sort with several keys (string then -date), and _sort=_id / _lastUpdated', async () => {
    const b = await search(t, 'Patient?_sort=family,-birthdate');
    const got = b.entry.map((e: any) => `${e.resource.name[0].family} ${e.resource.birthDate}`);
    expect(got).toEqual(['Adams 2022-11-11', 'Adams 2021-03-01', 'Baker 2021-03-01', 'Baker 2020-01-05', 'Clark 2019-07-20']);
    expect(matchIds(await search(t, 'Specimen?_sort=_id'))).toEqual(sorted(s.map((x) => x.id)));
    expect(matchIds(await search(t, 'Specimen?_sort=-_lastUpdated'))).toEqual([...s].reverse().map((x) => x.id));
  });

  // search.html#sort: `_id` is a token parameter of every resource and may be a sort key; with a criterion
  // the ids come straight from the index (formerly a 500: the key column was not selected)
  it('_sort=_id and -_id with criteria of every kind (string, token, date, reference, _tag, system level), paged', async () => {
    const pats = sorted(await ids(t, 'Patient?family=Adams,Baker,Clark'));
    const spec = sorted(s.map((x) => x.id));
    const cases: [string, string[]][] = [
      ['Patient?family=a,b,c', pats],
      ['Patient?gender:missing=true', pats],
      ['Patient?birthdate=ge2019', pats],
      ['Specimen?subject=Patient/sorter', spec],
      ['Specimen?collected=ge2019-01-01', spec],
      ['Specimen?_id=' + spec.join(','), spec],
    ];
    for (const [q, want] of cases) {
      expect([q, matchIds(await search(t, `${q}&_sort=_id`))]).toEqual([q, want]);
      expect([q, matchIds(await search(t, `${q}&_sort=-_id`))]).toEqual([q, [...want].reverse()]);
      expect([q, await allPages(t, `${q}&_sort=-_id&_count=2`)]).toEqual([q, [...want].reverse()]);
      expect([q, await allPages(t, `${q}&_sort=_id,-_lastUpdated&_count=2`)]).toEqual([q, want]);
    }
    // previous from the second page gives the first back
    const first = await search(t, 'Specimen?subject=Patient/sorter&_sort=-_id&_count=2');
    const second = await search(t, first.link.find((l: any) => l.relation === 'next').url.replace(`${t.baseUrl}/`, ''));
    const prev = second.link.find((l: any) => l.relation === 'previous').url.replace(`${t.baseUrl}/`, '');
    expect(matchIds(await search(t, prev))).toEqual(matchIds(first));
    expect((await search(t, 'Basic?code=x&_sort=_id')).entry ?? []).toEqual([]);
    const sys = await search(t, '?_type=Patient,Specimen&_tag=http://x|y&_sort=-_id');
    expect(sys.entry ?? []).toEqual([]);
    expect(matchIds(await search(t, '?_type=Specimen&_lastUpdated=gt2000&_sort=-_id'))).toEqual([...spec].reverse());
  });

  it('_count sets the page size (default 20, at most 1000); next/previous links page through every match once', async () => {
    const first = await search(t, 'Specimen?_sort=collected&_count=2');
    expect(first.entry).toHaveLength(2);
    expect(first.link.map((l: any) => l.relation)).toEqual(['self', 'next']);
    const all = await allPages(t, 'Specimen?_sort=collected&_count=2');
    expect(all).toEqual(matchIds(await search(t, 'Specimen?_sort=collected')));
    // previous from the second page gives the first page back
    const second = await search(t, first.link.find((l: any) => l.relation === 'next').url.replace(`${t.baseUrl}/`, ''));
    const prev = second.link.find((l: any) => l.relation === 'previous');
    expect(prev).toBeDefined();
    expect(matchIds(await search(t, prev.url.replace(`${t.baseUrl}/`, '')))).toEqual(matchIds(first));
    // search.html#selflink: the self link holds the parameters actually applied, a capped _count as the cap
    const big = await search(t, 'Specimen?_count=5000');
    expect(big.link[0].url).toBe(`${t.baseUrl}/Specimen?_count=1000`);
    expect(big.entry).toHaveLength(5);
  });

  it('paging stays correct while data changes: no duplicates or gaps when following next to the end', async () => {
    const before = matchIds(await search(t, 'Specimen?_sort=collected&_count=100'));
    const added: string[] = [];
    const seen = await allPages(t, 'Specimen?_sort=collected&_count=2', async (page) => {
      // an insert sorting before the cursor, one after, and an update that does not move
      if (page === 0) {
        added.push(await create(t, { resourceType: 'Specimen', collection: { collectedDateTime: '2000-01-01' }, subject: { reference: 'Patient/sorter' } }));
        added.push(await create(t, { resourceType: 'Specimen', collection: { collectedDateTime: '2030-01-01' }, subject: { reference: 'Patient/sorter' } }));
      }
    });
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of before) expect(seen).toContain(id);
    expect(seen).toContain(added[1]); // after the cursor: seen
    expect(seen).not.toContain(added[0]); // before the cursor: not re-served
  });

  it('_total: none (absent), accurate (count of all matches), estimate (a number)', async () => {
    const n = matchIds(await search(t, 'Patient?_count=1000')).length;
    expect((await search(t, 'Patient?_count=2&_total=accurate')).total).toBe(n);
    expect((await search(t, 'Patient?_count=2&_total=none')).total).toBeUndefined();
    expect(typeof (await search(t, 'Patient?_count=2&_total=estimate')).total).toBe('number');
  });

  it('_summary=count gives the total only; _summary=true the summary elements, marked SUBSETTED', async () => {
    const count = await search(t, 'Patient?_summary=count');
    expect(count.total).toBe(5);
    expect(count.entry).toEqual([]);
    const summary = await search(t, `Specimen?_summary=true&_id=${s[0].id}`);
    const r = summary.entry[0].resource;
    expect(r.note).toBeUndefined(); // Specimen.note is not a summary element
    expect(r.collection).toBeUndefined(); // nor is collection
    expect(r.subject).toBeDefined();
    expect(r.meta.tag).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'SUBSETTED' })]));
    const data = await search(t, `Specimen?_summary=data&_id=${s[0].id}`);
    expect(data.entry[0].resource.note).toBeDefined();
    expect((await t.http.get('/fhir/Specimen?_summary=maybe')).status).toBe(400);
  });

  it('_elements returns only the listed elements (plus id, meta and mandatory ones)', async () => {
    const b = await search(t, 'Patient?_elements=birthDate&_count=1');
    const r = b.entry[0].resource;
    expect(Object.keys(r).sort()).toEqual(['birthDate', 'id', 'meta', 'resourceType']);
    expect(r.meta.tag.some((x: any) => x.code === 'SUBSETTED')).toBe(true);
  });

  it('POST [type]/_search with a form body equals GET; the self link shows the parameters applied', async () => {
    const get = await search(t, 'Patient?family=adams&_sort=birthdate');
    const post = await t.http.post('/fhir/Patient/_search').type('form').send('family=adams&_sort=birthdate');
    expect(post.status).toBe(200);
    expect(matchIds(post.body)).toEqual(matchIds(get));
    expect(post.body.link[0].url).toBe(`${t.baseUrl}/Patient?family=adams&_sort=birthdate`);
    const sys = await t.http.post('/fhir/_search').type('form').send('_type=Patient&family=clark');
    expect(sys.status).toBe(200);
    expect(sys.body.entry).toHaveLength(1);
  });

  it('_contained and _containedType take only their values (search.html#contained; see contained.e2e-spec.ts)', async () => {
    expect((await t.http.get('/fhir/Patient?_contained=true')).status).toBe(200);
    expect((await t.http.get('/fhir/Patient?_contained=yes')).status).toBe(400);
    expect((await t.http.get('/fhir/Patient?_contained=true&_containedType=all')).status).toBe(400);
  });
});

// The SQL shapes behind the scenes (ids from the index, anchored criteria, the resource table) must agree.
describe('query shapes agree (search.html#combining, deleted resources)', () => {
  let t: TestApp;
  const o: Record<string, string> = {};
  beforeAll(async () => {
    t = await startTestApp();
    const obs = (code: string, extra: object = {}) => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, subject: { reference: 'Patient/shape' }, ...extra });
    for (let i = 0; i < 5; i++) o[`hr${i}`] = await create(t, obs('8867-4', { valueQuantity: { value: 60 + i * 10 } }));
    o.bw = await create(t, obs('29463-7', { valueQuantity: { value: 80 } }));
    o.noSubject = await create(t, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } });
    o.gone = await create(t, obs('8867-4'));
    expect((await t.http.delete(`/fhir/Observation/${o.gone}`)).status).toBe(204);
  });
  afterAll(async () => t.close());

  it('a deleted resource matches nothing, whatever the shape of the query', async () => {
    for (const q of ['Observation?code=8867-4&_count=100', `Observation?_id=${o.gone}`, `Observation?_id=${o.gone}&status:missing=true`, 'Observation?subject=Patient/shape&code=8867-4', 'Observation?code:not=29463-7']) {
      expect(await ids(t, q)).not.toContain(o.gone);
    }
  });

  it('anchored and unanchored forms give the same sets (AND, OR, :not, :missing, chains, value ranges)', async () => {
    const hr = [0, 1, 2, 3, 4].map((i) => o[`hr${i}`]);
    expect(await ids(t, 'Observation?subject=Patient/shape&code=8867-4')).toEqual(sorted(hr));
    expect(await ids(t, 'Observation?code=8867-4,29463-7&subject=Patient/shape')).toEqual(sorted([...hr, o.bw]));
    expect(await ids(t, 'Observation?code=8867-4&subject:missing=true')).toEqual([o.noSubject]);
    expect(await ids(t, 'Observation?subject=Patient/shape&code:not=8867-4')).toEqual([o.bw]);
    expect(await ids(t, 'Observation?code=8867-4&value-quantity=ge80&value-quantity=lt100')).toEqual(sorted([o.hr2, o.hr3]));
    expect(await ids(t, `Observation?code=8867-4&_id=${o.hr1},${o.bw}`)).toEqual([o.hr1]);
    expect(await ids(t, 'Observation?code=http://loinc.org|8867-4&status=final&subject=Patient/shape')).toEqual(sorted(hr));
  });

  it('keyset pages of an anchored query cover every match once, forwards and back', async () => {
    const all = matchIds(await search(t, 'Observation?code=8867-4&_count=100'));
    expect(await allPages(t, 'Observation?code=8867-4&_count=2')).toEqual(all);
    const sortedPages = await allPages(t, 'Observation?code=8867-4&_sort=-value-quantity&_count=2');
    expect(new Set(sortedPages)).toEqual(new Set(all));
    const first = await search(t, 'Observation?code=8867-4&_count=2');
    const second = await search(t, first.link.find((l: any) => l.relation === 'next').url.replace(`${t.baseUrl}/`, ''));
    const back = await search(t, second.link.find((l: any) => l.relation === 'previous').url.replace(`${t.baseUrl}/`, ''));
    expect(matchIds(back)).toEqual(matchIds(first));
    expect((await search(t, 'Observation?code=8867-4&_total=accurate&_count=1')).total).toBe(all.length);
  });
});

// search.html#sort (the highest value of a repeating element sorts descending, the lowest ascending) with date
// criteria on the sorted parameter itself (search.html#date; repeated parameters AND, each matched by any value).
// With an anchor (subject) the sort key's rows also decide those criteria (SearchSql.mergeableDateCriteria);
// without one the date criterion drives: both shapes must give the oracle's answer.
describe('date criteria on the _sort parameter (search.html#sort, #date)', () => {
  let t: TestApp;
  const goals: { id: string; due: string[] }[] = [];
  beforeAll(async () => {
    t = await startTestApp();
    for (const due of [['2019-03-01', '2025-05-01'], ['2020-06-01', '2022-01-01'], ['2023-02-01'], [], ['2018-01-01']]) {
      const id = await create(t, {
        resourceType: 'Goal',
        lifecycleStatus: 'active',
        description: { text: 'walk' },
        subject: { reference: 'Patient/goals' },
        ...(due.length ? { target: due.map((d) => ({ dueDate: d })) } : {}),
      });
      goals.push({ id, due });
    }
  });
  afterAll(async () => t.close());

  /** AND of criteria, each an OR of [prefix, date] (dates far from every value: no precision edge). */
  const oracle = (criteria: ['lt' | 'gt', string][][], descending: boolean) =>
    goals
      .filter((g) => criteria.every((alts) => alts.some(([op, d]) => g.due.some((v) => (op === 'lt' ? v < d : v > d)))))
      .map((g) => ({ id: g.id, key: descending ? [...g.due].sort().pop()! : [...g.due].sort()[0] }))
      .sort((a, b) => (descending ? b.key.localeCompare(a.key) : a.key.localeCompare(b.key)) || a.id.localeCompare(b.id))
      .map((g) => g.id);

  it('matches and orders as the spec says, anchored or not, on every page', async () => {
    const cases: [string, ['lt' | 'gt', string][][], boolean][] = [
      ['target-date=lt2021-01-01&_sort=-target-date', [[['lt', '2021-01-01']]], true],
      ['target-date=lt2021-01-01&target-date=gt2024-01-01&_sort=target-date', [[['lt', '2021-01-01']], [['gt', '2024-01-01']]], false],
      ['target-date=lt2019-01-01,gt2024-01-01&_sort=target-date', [[['lt', '2019-01-01'], ['gt', '2024-01-01']]], false],
      ['target-date=gt2021-06-01&_sort=-target-date', [[['gt', '2021-06-01']]], true],
    ];
    for (const [query, criteria, descending] of cases) {
      const want = oracle(criteria, descending);
      expect(want.length).toBeGreaterThan(0);
      expect(matchIds(await search(t, `Goal?subject=Patient/goals&${query}`))).toEqual(want);
      expect(matchIds(await search(t, `Goal?${query}`))).toEqual(want);
      expect(await allPages(t, `Goal?subject=Patient/goals&${query}&_count=1`)).toEqual(want);
      expect((await search(t, `Goal?subject=Patient/goals&${query}&_total=accurate&_count=1`)).total).toBe(want.length);
    }
  });
});

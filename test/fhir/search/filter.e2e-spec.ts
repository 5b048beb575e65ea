import { startTestApp, TestApp } from '../../helpers/test-app';
import { allPages, create, ids, search, sorted } from './search-helpers';

// R4 search_filter.html (`_filter`, trial use): tests `path op value` over the standard search
// parameters, combined with and / or / not and parentheses, evaluated left to right; the meaning of
// each operation per parameter type is the spec's table (string eq: the same characters, case
// insensitive; co, sw, ew; token eq / ne / ss / sb / in / ni; date and number prefixes and po;
// reference re; pr: present or not).
describe('_filter (search_filter.html)', () => {
  let t: TestApp;
  const p: Record<string, string> = {};
  const o: Record<string, string> = {};
  const f = (type: string, filter: string, extra = '') => ids(t, `${type}?_filter=${encodeURIComponent(filter)}${extra}`);
  const patient = (family: string, given: string[], birthDate: string, gender: string) => ({ resourceType: 'Patient', name: [{ family, given }], birthDate, gender });

  beforeAll(async () => {
    t = await startTestApp();
    p.peter = await create(t, patient('Chalmers', ['Peter', 'James'], '2014-11-01', 'male'));
    p.petra = await create(t, patient('Petrovna', ['Anna'], '1980-05-05', 'female'));
    p.trumpet = await create(t, patient('Trumpet', ['Carl'], '2015-01-01', 'male'));
    p.peterson = await create(t, patient('Peterson', ['Eve'], '2014-10-10', 'female'));
    p.noname = await create(t, { resourceType: 'Patient', gender: 'unknown' });
    const obs = (code: string, subject: string, value: number, effective: string) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code }] },
      subject: { reference: `Patient/${subject}` },
      valueQuantity: { value, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      effectivePeriod: { start: `${effective}T08:00:00Z`, end: `${effective}T20:00:00Z` },
    });
    o.a = await create(t, obs('8480-6', p.peter, 120, '2021-03-01'));
    o.b = await create(t, obs('8480-6', p.petra, 150, '2021-03-02'));
    o.c = await create(t, obs('8462-4', p.peter, 80, '2021-04-01'));
  });
  afterAll(async () => t.close());

  it('string operations: co, sw, ew, eq (whole value, case insensitive), ne', async () => {
    // "name co pet": the characters anywhere in a given or family name
    expect(await f('Patient', 'name co "pet"')).toEqual(sorted([p.peter, p.petra, p.trumpet, p.peterson]));
    expect(await f('Patient', 'name sw pet')).toEqual(sorted([p.peter, p.petra, p.peterson]));
    expect(await f('Patient', 'family ew "son"')).toEqual([p.peterson]);
    expect(await f('Patient', 'given eq "PETER"')).toEqual([p.peter]);
    expect(await f('Patient', 'family eq "peter"')).toEqual([]);
    expect(await f('Patient', 'family ne "Chalmers"')).toEqual(sorted([p.petra, p.trumpet, p.peterson, p.noname]));
  });

  it('and, or, not, parentheses; left to right with no precedence', async () => {
    // the spec's example: given name peter, born on or after 2014-10-10
    expect(await f('Patient', 'given eq "peter" and birthdate ge 2014-10-10')).toEqual([p.peter]);
    expect(await f('Patient', 'family eq Trumpet or family eq Petrovna')).toEqual(sorted([p.trumpet, p.petra]));
    expect(await f('Patient', 'not (gender eq male)')).toEqual(sorted([p.petra, p.peterson, p.noname]));
    // (a or b) and c, as written left to right ...
    expect(await f('Patient', 'family eq Trumpet or family eq Petrovna and gender eq female')).toEqual([p.petra]);
    // ... and with parentheses the other way
    expect(await f('Patient', 'family eq Trumpet or (family eq Petrovna and gender eq male)')).toEqual([p.trumpet]);
    expect(await f('Patient', 'not (name co pet or gender eq unknown)')).toEqual([]);
    // with the other parameters of the query (AND)
    expect(await f('Patient', 'name co pet', '&gender=female')).toEqual(sorted([p.petra, p.peterson]));
  });

  it('dates: prefixes, sa / eb, po (overlaps)', async () => {
    expect(await f('Patient', 'birthdate lt 2014-11-01')).toEqual(sorted([p.petra, p.peterson]));
    expect(await f('Patient', 'birthdate eq 2014')).toEqual(sorted([p.peter, p.peterson]));
    expect(await f('Patient', 'birthdate sa 2014')).toEqual([p.trumpet]);
    // po: the period overlaps the day given (08:00-20:00 on 2021-03-01 overlaps 2021-03-01; eq would need containment in it too)
    expect(await f('Observation', 'date po 2021-03-01')).toEqual([o.a]);
    expect(await f('Observation', 'date po 2021-03')).toEqual(sorted([o.a, o.b]));
    expect(await f('Observation', 'date po 2021-03-01T19:00:00Z')).toEqual([o.a]);
    expect(await f('Observation', 'date eq 2021-03-01T19:00:00Z')).toEqual([]);
  });

  it('tokens (with the loinc alias), quantities, references and chains, pr', async () => {
    expect(await f('Observation', 'code eq loinc|8480-6')).toEqual(sorted([o.a, o.b]));
    expect(await f('Observation', 'code eq http://loinc.org|8462-4')).toEqual([o.c]);
    expect(await f('Observation', 'code ne 8480-6')).toEqual([o.c]);
    expect(await f('Observation', 'value-quantity gt 100')).toEqual(sorted([o.a, o.b]));
    // a token ends at "]": a unit with brackets is written as a JSON string
    expect(await f('Observation', 'value-quantity ge "130|http://unitsofmeasure.org|mm[Hg]" or value-quantity lt 90')).toEqual(sorted([o.b, o.c]));
    expect((await t.http.get(`/fhir/Observation?_filter=${encodeURIComponent('value-quantity ge 130|http://unitsofmeasure.org|mm[Hg]')}`)).status).toBe(400);
    expect(await f('Observation', `subject re Patient/${p.peter}`)).toEqual(sorted([o.a, o.c]));
    // the spec's example: observations on a patient with "pet" in a name
    expect(await f('Observation', 'subject.name co "pet"')).toEqual(sorted([o.a, o.b, o.c]));
    expect(await f('Observation', 'subject.birthdate lt 2000 and code eq 8480-6')).toEqual([o.b]);
    expect(await f('Patient', 'name pr false')).toEqual([p.noname]);
    expect((await f('Patient', 'name pr true')).length).toBe(4);
    expect(await f('Patient', `_id eq ${p.petra}`)).toEqual([p.petra]);
  });

  it('the self link keeps the filter; syntax and type errors are 400 OperationOutcomes', async () => {
    const b = await search(t, `Patient?_filter=${encodeURIComponent('name co pet')}`);
    expect(decodeURIComponent(b.link[0].url.replace(/\+/g, ' '))).toContain('_filter=name co pet');
    for (const bad of ['name co', 'name xx "a"', '(name co a', 'name co a)', 'name co "a', 'name co a and', 'nope eq 1', 'related[type eq x].target pr true', 'birthdate co 2014', 'gender sw m', 'name pr maybe', 'name co a or or b']) {
      const res = await t.http.get(`/fhir/Patient?_filter=${encodeURIComponent(bad)}`);
      expect({ bad, status: res.status, type: res.body.resourceType }).toEqual({ bad, status: 400, type: 'OperationOutcome' });
    }
    // lenient: an unknown parameter inside is still an error of the filter, not ignored
    const lenient = await t.http.get(`/fhir/Patient?_filter=${encodeURIComponent('nope eq 1')}`).set('Prefer', 'handling=lenient');
    expect(lenient.status).toBe(400);
  });

  it('a hostile value stays a value', async () => {
    expect(await f('Patient', `family eq "x'); DROP TABLE resource; --"`)).toEqual([]);
    expect(await f('Patient', 'family eq "a,b$c|d\\\\e"')).toEqual([]);
    expect((await f('Patient', 'gender eq male')).length).toBe(2);
  });

  // search.html §3.1.1.3 (OR with commas) read from one index scan per value: a resource holding both
  // values is one match, and following `next` gives every match once (the cursor applies to each scan).
  it('every match once, in id order, through the pages', async () => {
    const coding = (code: string) => ({ system: 'http://loinc.org', code });
    const made: Record<string, string[]> = { a: [], b: [], both: [], other: [] };
    for (let i = 0; i < 7; i++) {
      made.a.push(await create(t, { resourceType: 'Observation', status: 'final', code: { coding: [coding('1111-1')] } }));
      made.b.push(await create(t, { resourceType: 'Observation', status: 'final', code: { coding: [coding('2222-2')] } }));
      made.both.push(await create(t, { resourceType: 'Observation', status: 'final', code: { coding: [coding('1111-1'), coding('2222-2')] } }));
      made.other.push(await create(t, { resourceType: 'Observation', status: 'final', code: { coding: [coding('3333-3')] } }));
    }
    const expected = sorted([...made.a, ...made.b, ...made.both]);
    const pages = await allPages(t, 'Observation?code=http://loinc.org|1111-1,http://loinc.org|2222-2&_count=4');
    expect(pages).toEqual(expected);
    expect(await allPages(t, `Observation?_filter=${encodeURIComponent('code eq 1111-1 or code eq 2222-2 or code eq 9999-9')}&_count=5`)).toEqual(expected);
    // more values than index scans appended (16): one scan again, the same matches
    const many = ['1111-1', '2222-2', ...Array.from({ length: 18 }, (_, i) => `9${i}-0`)].join(',');
    expect(await allPages(t, `Observation?code=${many}&_count=6`)).toEqual(expected);
    // with another criterion probed per id
    expect(await allPages(t, `Observation?code=1111-1,2222-2&_id=${made.both[0]},${made.a[0]},${made.other[0]}&_count=1`)).toEqual(sorted([made.both[0], made.a[0]]));
  });
});

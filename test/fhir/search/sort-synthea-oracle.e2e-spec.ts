import { startTestApp, TestApp } from '../../helpers/test-app';
import { bundlesByName, loadTransaction, SMART_DIR } from '../export/export-oracle-helpers';
import { Item, keyOf, oracleOrder, syntheaPresent, walk } from './sort-synthea-oracle';

/**
 * Oracle check of `_sort` with paging (R4 search.html#sort, #paging; http.html#paging) on real Synthea
 * patients (../shared/fixtures/synthea/smart-generated-sample-data, the first 3 bundles by file name).
 * Every expected order is computed here from the fixture content and the ids the server assigned
 * (./sort-synthea-oracle.ts): by the parameter's values (a repeating element: the lowest ascending, the
 * highest descending; dates as ranges), no value last, ties by id (README "Owner date rows": "highest/lowest
 * value, ties by id, no value last"). Each search is followed by `next` with small pages, then back by
 * `previous`: no duplicates, no gaps, the oracle's order across pages, the same pages reversed.
 */
const PATIENTS = 3;
const present = syntheaPresent();
if (!present) {
  // eslint-disable-next-line no-console
  console.log(`sort-synthea-oracle: skipped, Synthea bundles not found in ${SMART_DIR}`);
}

(present ? describe : describe.skip)('_sort with paging on Synthea data (R4 search.html#sort, #paging)', () => {
  let t: TestApp;
  /** every loaded resource by `Type/id` (content with server ids and references) */
  const all = new Map<string, Item>();
  /** patient ids, the one with the most Observations first */
  let pats: string[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    const obsCount = new Map<string, number>();
    for (const { bundle } of bundlesByName(PATIENTS)) {
      const created = await loadTransaction(t, bundle);
      const pid = created.find((c) => c.type === 'Patient')!.id;
      obsCount.set(pid, created.filter((c) => c.type === 'Observation').length);
      for (const c of created) all.set(c.key, { key: c.key, type: c.type, id: c.id, resource: c.expected });
    }
    pats = [...obsCount].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([id]) => id);
  }, 60_000);
  afterAll(async () => t?.close());

  /** The loaded resources of `type` whose subject or patient is Patient/`pid` (search.html#reference). */
  const ofPatient = (type: string, pid: string): Item[] =>
    [...all.values()].filter((i) => i.type === type && [i.resource.subject, i.resource.patient].some((r) => r?.reference === `Patient/${pid}`));

  /** Adds the server's meta (lastUpdated) to the items: what `_lastUpdated` sorts by (search.html#all). */
  async function withMeta(items: Item[]): Promise<Item[]> {
    const out: Item[] = [];
    for (const type of new Set(items.map((i) => i.type))) {
      const ids = items.filter((i) => i.type === type).map((i) => i.id);
      const byId = new Map<string, any>();
      for (let i = 0; i < ids.length; i += 50) {
        const res = await t.http.get(`/fhir/${type}?_id=${ids.slice(i, i + 50).join(',')}&_count=1000`);
        expect(res.status).toBe(200);
        for (const e of res.body.entry ?? []) byId.set(e.resource.id, e.resource.meta);
      }
      expect(byId.size).toBe(ids.length);
      for (const i of items.filter((x) => x.type === type)) out.push({ ...i, resource: { ...i.resource, meta: byId.get(i.id) } });
    }
    return out;
  }

  /**
   * Follows `<path>&_count=<n>` for each `n` by `next` and back by `previous` (search.html#paging): the
   * pages in order are exactly `expected` (no duplicates, no gaps), every page but the last is full,
   * and the `previous` links give the same pages reversed.
   */
  async function checkPaging(path: string, expected: string[], counts = [5, 13]) {
    expect(new Set(expected).size).toBe(expected.length);
    for (const n of counts) {
      const q = `${path}&_count=${n}`;
      const w = await walk(t, q);
      const flat = w.pages.flat();
      const dup = flat.filter((k, i) => flat.indexOf(k) !== i);
      expect({ q, duplicates: dup }).toEqual({ q, duplicates: [] });
      expect({ q, missing: expected.filter((k) => !flat.includes(k)), extra: flat.filter((k) => !expected.includes(k)) }).toEqual({ q, missing: [], extra: [] });
      expect({ q, order: flat }).toEqual({ q, order: expected });
      expect({ q, sizes: w.pages.slice(0, -1).filter((p) => p.length !== n) }).toEqual({ q, sizes: [] });
      expect({ q, back: w.back }).toEqual({ q, back: w.pages.slice(0, -1).reverse() });
      if (w.beforeFirst) expect({ q, beforeFirst: w.beforeFirst }).toEqual({ q, beforeFirst: [] });
    }
  }

  /** The oracle's order of `items` for `sort`, checked against the server page by page. */
  async function check(path: string, items: Item[], sort: string, counts?: number[]) {
    expect(items.length).toBeGreaterThan(0);
    await checkPaging(`${path}${path.includes('?') ? '&' : '?'}_sort=${sort}`, oracleOrder(items, sort), counts);
  }

  it('search.html#sort (date, ascending by the lowest low bound) + #paging: Observation?patient=X&_sort=date', async () => {
    await check(`Observation?patient=${pats[0]}`, ofPatient('Observation', pats[0]), 'date');
  }, 30_000);

  it('search.html#sort (date, descending by the highest high bound) + #paging: Observation?patient=X&_sort=-date', async () => {
    await check(`Observation?patient=${pats[0]}`, ofPatient('Observation', pats[0]), '-date');
  }, 30_000);

  it('search.html#sort (several keys: token by code, then -date) + #paging: Observation?patient=X&_sort=code,-date', async () => {
    const items = ofPatient('Observation', pats[0]);
    // the second key must matter: some code holds several Observations
    const codes = items.map((i) => keyOf(i, 'code', false));
    expect(codes.some((c, i) => codes.indexOf(c) !== i)).toBe(true);
    await check(`Observation?patient=${pats[0]}`, items, 'code,-date');
  }, 30_000);

  it('search.html#sort (_lastUpdated, descending; ties by id) + #paging: Observation?patient=X&_sort=-_lastUpdated', async () => {
    await check(`Observation?patient=${pats[0]}`, await withMeta(ofPatient('Observation', pats[0])), '-_lastUpdated');
  }, 30_000);

  it('search.html#sort (Period: descending by its end) + #paging: Encounter?patient=X&_sort=-date', async () => {
    for (const pid of pats) await check(`Encounter?patient=${pid}`, ofPatient('Encounter', pid), '-date', [5]);
  }, 30_000);

  it('search.html#sort (onset-date; a resource without a value sorts last both ways) + #paging: Condition?patient=X&_sort=onset-date', async () => {
    const pid = pats[2];
    const fixture = ofPatient('Condition', pid);
    // the fixture's Conditions all have an onset or not: computed, and one without is added so the rule bites
    const missing = fixture.filter((i) => keyOf(i, 'onset-date', false) === undefined).length;
    // eslint-disable-next-line no-console
    if (!missing) console.log(`sort-synthea-oracle: the fixture's ${fixture.length} Conditions of Patient/${pid} all have an onset; adding one without`);
    const res = await t.http
      .post('/fhir/Condition')
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Condition', subject: { reference: `Patient/${pid}` }, code: { text: 'no onset' } });
    expect(res.status).toBe(201);
    const added: Item = { key: `Condition/${res.body.id}`, type: 'Condition', id: res.body.id, resource: res.body };
    const items = [...fixture, added];
    await check(`Condition?patient=${pid}`, items, 'onset-date', [2, 5]);
    await check(`Condition?patient=${pid}`, items, '-onset-date', [2, 5]);
    expect(oracleOrder(items, 'onset-date').pop()).toBe(added.key);
  }, 30_000);

  it('search.html#sort (date of Immunization.occurrence) + #paging: Immunization?patient=X&_sort=date', async () => {
    for (const pid of pats) await check(`Immunization?patient=${pid}`, ofPatient('Immunization', pid), 'date', [5]);
  }, 30_000);

  it('search.html#sort (strings, case- and accent-insensitive, several names: the lowest) + #paging: Patient?_sort=family,given', async () => {
    const patients = [...all.values()].filter((i) => i.type === 'Patient');
    expect(patients.length).toBe(PATIENTS);
    await check('Patient', patients, 'family,given', [1, 2]);
    await check('Patient', patients, '-family,given', [1, 2]);
  }, 30_000);

  it('search.html#sort (date, descending) + #paging: Patient?_sort=-birthdate', async () => {
    await check('Patient', [...all.values()].filter((i) => i.type === 'Patient'), '-birthdate', [1, 2]);
  }, 30_000);

  it('search.html#sort (quantity, by value) + #paging: Observation?patient=X&code=<most frequent quantity code>&_sort=value-quantity', async () => {
    const pid = pats[0];
    // the code with the most Observations carrying a valueQuantity, all in one unit (the order of values in
    // different units would hang on unit conversion, which search.html#sort leaves open)
    const byCode = new Map<string, Item[]>();
    for (const i of ofPatient('Observation', pid)) {
      const c = i.resource.code?.coding?.[0];
      if (i.resource.valueQuantity && c?.code) byCode.set(`${c.system}|${c.code}`, [...(byCode.get(`${c.system}|${c.code}`) ?? []), i]);
    }
    const [code, items] = [...byCode]
      .filter(([, list]) => new Set(list.map((i) => i.resource.valueQuantity.code ?? i.resource.valueQuantity.unit)).size === 1)
      .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))[0];
    expect(items.length).toBeGreaterThan(5);
    const path = `Observation?patient=${pid}&code=${encodeURIComponent(code)}`;
    await check(path, items, 'value-quantity', [2, 5]);
    await check(path, items, '-value-quantity', [2, 5]);
  }, 30_000);

  it('search.html#sort over several types (_type, ties by type then id) + #paging: ?_type=Observation,Condition&patient=X&_sort=-_lastUpdated', async () => {
    const pid = pats[1];
    const items = await withMeta([...ofPatient('Observation', pid), ...ofPatient('Condition', pid)]);
    await check(`?_type=Observation,Condition&patient=${pid}`, items, '-_lastUpdated', [5, 13]);
  }, 30_000);

  it('search.html#paging (keyset, README "paging"): writes between pages give no duplicates and no gaps', async () => {
    const pid = pats[1];
    const items = ofPatient('Observation', pid);
    const expected = oracleOrder(items, 'date');
    const times = items.map((i) => keyOf(i, 'date', false) as number).sort((a, b) => a - b);
    const iso = (ms: number) => new Date(ms).toISOString();
    const added: { key: string; where: 'before' | 'inside' | 'after' }[] = [];
    const add = async (when: string, where: 'before' | 'inside' | 'after') => {
      const res = await t.http
        .post('/fhir/Observation')
        .set('Content-Type', 'application/fhir+json')
        .send({ resourceType: 'Observation', status: 'final', code: { text: `added ${where}` }, subject: { reference: `Patient/${pid}` }, effectiveDateTime: when });
      expect(res.status).toBe(201);
      added.push({ key: `Observation/${res.body.id}`, where });
    };
    const n = 13;
    const w = await walk(t, `Observation?patient=${pid}&_sort=date&_count=${n}`, async (page) => {
      if (page !== 0) return;
      // after page 1: one before every match, one inside the range page 1 covered, one after every match
      await add(iso(times[0] - 86_400_000), 'before');
      await add(iso(Math.floor((times[0] + times[n - 1]) / 2)), 'inside');
      await add(iso(times[times.length - 1] + 86_400_000), 'after');
    });
    const flat = w.pages.flat();
    const dup = flat.filter((k, i) => flat.indexOf(k) !== i);
    expect(dup).toEqual([]);
    // every original match once, in the oracle's order
    expect(flat.filter((k) => expected.includes(k))).toEqual(expected);
    // behind the cursor: never handed out; after it: handed out in place
    const got = new Set(flat);
    expect(added.filter((a) => a.where !== 'after' && got.has(a.key))).toEqual([]);
    expect(flat[flat.length - 1]).toBe(added.find((a) => a.where === 'after')!.key);
    // a fresh walk sees the new ones in their places
    const fresh = await walk(t, `Observation?patient=${pid}&_sort=date&_count=${n}`);
    expect(fresh.pages.flat()[0]).toBe(added.find((a) => a.where === 'before')!.key);
    expect(fresh.pages.flat().length).toBe(expected.length + added.length);
  }, 30_000);
});

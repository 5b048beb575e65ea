import { startTestApp, TestApp } from '../../helpers/test-app';
import { normalizeString } from '../../../src/fhir/search/normalize';
import { SearchService } from '../../../src/fhir/search/search.service';
import { create, ids, search, sorted } from './search-helpers';

/**
 * search.html#string: a string parameter matches "the field" — case and accent insensitive, as a prefix,
 * or anywhere in it with `:contains` (search.html#modifiers), whatever its length. The string index keeps
 * the first 200 normalized characters of a value (a btree key stays small); a longer one is also indexed
 * whole (a row of kind `l`), so that `:contains`, the `_filter` operators `co`/`ew`/`eq`
 * (search_filter.html) and a prefix longer than 200 characters are decided on the whole string.
 */
describe('strings longer than the index prefix (search.html#string, #modifiers)', () => {
  let t: TestApp;
  const p: Record<string, string> = {};

  /** 40 lowercase words, no accent: normalizes to itself */
  const filler = (seed: string, n: number) => Array.from({ length: n }, (_, i) => `${seed}${String.fromCharCode(97 + (i % 26))}${i}`).join(' ');
  // 500 characters: the first 250 shared with `other`, "Zanzibar" at character ~330, accents past 200, its own end
  const head = filler('word', 60).slice(0, 250);
  const long1 = `${head} ${filler('tail', 10)} Zanzibar Crossing, ÑANDÚ Café ${filler('more', 40)}`.slice(0, 485) + ' Final Terminus';
  const other = `${head} ${filler('else', 30)} Different Ending`;
  const norm1 = normalizeString(long1);
  // exactly 200 normalized characters: the same as long1's indexed prefix
  const exact200 = head.slice(0, 200);
  /** a search value, escaped (search.html#escaping: `long1` holds a comma) and encoded */
  const q = (v: string) => encodeURIComponent(v.replace(/[\\,$|]/g, '\\$&'));
  const filter = (f: string) => ids(t, `Patient?_filter=${encodeURIComponent(f)}`);
  const patient = (text: string, id?: string) => ({ resourceType: 'Patient', ...(id ? { id } : {}), address: [{ text }] });
  const longRows = async (id: string) =>
    (await t.db.query(`SELECT value FROM search_index WHERE resource_type = 'Patient' AND resource_id = $1 AND kind = 'l'`, [id])).rows.map((r) => r.value);

  beforeAll(async () => {
    t = await startTestApp();
    expect(long1.length).toBe(500);
    expect(long1.indexOf('Zanzibar')).toBeGreaterThan(300);
    expect(exact200).toHaveLength(200);
    expect(exact200.endsWith(' ')).toBe(false);
    p.long = await create(t, patient(long1));
    p.other = await create(t, patient(other));
    p.exact200 = await create(t, patient(exact200));
    p.short = await create(t, patient('Zanzibar Road 1'));
  });
  afterAll(async () => t.close());

  it('indexes a long string whole once, next to its first 200 characters', async () => {
    expect(await longRows(p.long)).toEqual([norm1]);
    expect(await longRows(p.exact200)).toEqual([]);
    expect(await longRows(p.short)).toEqual([]);
    const s = await t.db.query(`SELECT value FROM search_index WHERE resource_id = $1 AND kind = 's' AND param = 'address'`, [p.long]);
    expect(s.rows.map((r) => r.value)).toEqual([norm1.slice(0, 200)]);
  });

  it(':contains finds words past character 200, case and accent insensitive', async () => {
    expect(await ids(t, 'Patient?address:contains=zanzibar%20cross')).toEqual([p.long]);
    expect(await ids(t, 'Patient?address:contains=ZANZIBAR')).toEqual(sorted([p.long, p.short]));
    expect(await ids(t, `Patient?address:contains=${q('nandu café')}`)).toEqual([p.long]);
    expect(await ids(t, 'Patient?address:contains=final%20terminus')).toEqual([p.long]);
    expect(await ids(t, 'Patient?address:contains=different%20ending')).toEqual([p.other]);
    // across the 200th character, and a value longer than 200 characters
    expect(await ids(t, `Patient?address:contains=${q(norm1.slice(195, 260))}`)).toEqual([p.long]);
    expect(await ids(t, `Patient?address:contains=${q(long1.slice(100, 420).toUpperCase())}`)).toEqual([p.long]);
    // in the first 200 characters: every string holding them
    expect(await ids(t, `Patient?address:contains=${q(head.slice(20, 60))}`)).toEqual(sorted([p.long, p.other, p.exact200]));
    expect(await ids(t, 'Patient?address:contains=nowhere')).toEqual([]);
  });

  it('counts characters, not UTF-16 units: a string of emoji past 200 characters', async () => {
    const emoji = await create(t, patient(`${'a'.repeat(150)}${'\u{1F600}'.repeat(60)} Emoji End`));
    expect(await ids(t, 'Patient?address:contains=emoji%20end')).toEqual([emoji]);
    expect(await ids(t, `Patient?address=${q('a'.repeat(150) + '\u{1F600}'.repeat(60) + ' emoji')}`)).toEqual([emoji]);
    expect(await filter('address ew "emoji end"')).toEqual([emoji]);
    expect((await t.http.delete(`/fhir/Patient/${emoji}`)).status).toBeLessThan(300);
  });

  it('a prefix longer than 200 characters matches on the whole string', async () => {
    // shared by long1 and other up to character 250
    expect(await ids(t, `Patient?address=${q(head.slice(0, 240))}`)).toEqual(sorted([p.long, p.other]));
    // diverging after character 200: neither (the first 200 characters alone would match both)
    expect(await ids(t, `Patient?address=${q(head.slice(0, 210) + 'zzz')}`)).toEqual([]);
    // long1's own first 400 characters, in other case and with accents dropped
    expect(await ids(t, `Patient?address=${q(norm1.slice(0, 400).toUpperCase())}`)).toEqual([p.long]);
    expect(await ids(t, `Patient?address=${q(long1)}`)).toEqual([p.long]);
    expect(await ids(t, `Patient?address=${q(long1 + ' and more')}`)).toEqual([]);
    // 200 characters: every string starting with them
    expect(await ids(t, `Patient?address=${q(exact200)}`)).toEqual(sorted([p.long, p.other, p.exact200]));
  });

  it(':exact compares the whole original string', async () => {
    expect(await ids(t, `Patient?address:exact=${q(long1)}`)).toEqual([p.long]);
    expect(await ids(t, `Patient?address:exact=${q(norm1)}`)).toEqual([]);
    expect(await ids(t, `Patient?address:exact=${q(exact200)}`)).toEqual([p.exact200]);
  });

  it('_filter co, ew and eq read the whole string (search_filter.html)', async () => {
    expect(await filter('address co "zanzibar crossing"')).toEqual([p.long]);
    expect(await filter('address co "ÑANDU"')).toEqual([p.long]);
    expect(await filter('address ew "final terminus"')).toEqual([p.long]);
    expect(await filter('address ew "Ending"')).toEqual([p.other]);
    // the end of the first 200 characters is the end of exact200 only
    expect(await filter(`address ew "${exact200.slice(-30)}"`)).toEqual([p.exact200]);
    expect(await filter(`address eq "${exact200}"`)).toEqual([p.exact200]);
    expect(await filter(`address eq "${long1}"`)).toEqual([p.long]);
    expect(await filter(`address eq "${long1.slice(0, 300)}"`)).toEqual([]);
    expect(await filter(`address sw "${long1.slice(0, 300)}"`)).toEqual([p.long]);
    expect(await filter('address ew "road 1"')).toEqual([p.short]);
  });

  it('finds a long string of a contained resource (search.html#contained)', async () => {
    const container = await create(t, {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      contained: [patient(`${head} contained only Kilimanjaro`, 'c1')],
      subject: { reference: '#c1' },
    });
    const b = await search(t, 'Patient?address:contains=kilimanjaro&_contained=true');
    expect(b.entry.map((e: any) => e.resource.id)).toEqual([container]);
    expect((await search(t, 'Patient?address:contains=kilimanjaro')).entry ?? []).toEqual([]);
  });

  it('with other criteria, through a chain and _has (search.html#chaining, #has)', async () => {
    const obs = await create(t, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${p.long}` } });
    expect(await ids(t, `Patient?address:contains=final%20terminus&address=${q(head.slice(0, 30))}`)).toEqual([p.long]);
    expect(await ids(t, `Patient?address:contains=zanzibar&_id=${p.long},${p.short}`)).toEqual(sorted([p.long, p.short]));
    expect(await ids(t, `Patient?address:contains=different%20ending&_id=${p.long}`)).toEqual([]);
    expect(await ids(t, 'Observation?subject:Patient.address:contains=zanzibar%20crossing')).toEqual([obs]);
    expect(await ids(t, `Observation?subject:Patient.address=${q(long1.slice(0, 300))}`)).toEqual([obs]);
    expect(await ids(t, 'Patient?_has:Observation:subject:status=final&address:contains=terminus')).toEqual([p.long]);
  });

  it('an update that shortens the string drops its long row; a delete drops it too', async () => {
    const id = await create(t, patient(long1));
    expect(await longRows(id)).toEqual([norm1]);
    expect(await ids(t, 'Patient?address:contains=zanzibar%20crossing')).toEqual(sorted([p.long, id]));
    const put = await t.http.put(`/fhir/Patient/${id}`).set('Content-Type', 'application/fhir+json').send(patient(head, id));
    expect(put.status).toBe(200);
    expect(await longRows(id)).toEqual([normalizeString(head)]);
    expect(await ids(t, 'Patient?address:contains=zanzibar%20crossing')).toEqual([p.long]);
    const shorter = await t.http.put(`/fhir/Patient/${id}`).set('Content-Type', 'application/fhir+json').send(patient('Kurz', id));
    expect(shorter.status).toBe(200);
    expect(await longRows(id)).toEqual([]);
    expect(await ids(t, `Patient?address=${q(head.slice(0, 240))}`)).toEqual(sorted([p.long, p.other]));

    expect((await t.http.delete(`/fhir/Patient/${p.other}`)).status).toBeLessThan(300);
    expect(await longRows(p.other)).toEqual([]);
    expect(await ids(t, 'Patient?address:contains=different%20ending')).toEqual([]);
  });

  it('a plain :contains or prefix search on short strings stays an index-only scan of the string index', async () => {
    // enough rows for the planner to prefer the index (the rows of one search are few)
    const entry = (i: number) => ({ request: { method: 'POST', url: 'Patient' }, resource: patient(`${i} ${filler('street', 3)}`) });
    const res = await t.http
      .post('/fhir')
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: 2000 }, (_, i) => entry(i)) });
    expect(res.status).toBe(200);
    // as autovacuum leaves it: statistics, and a visibility map (without which no scan is index-only)
    await t.db.query('VACUUM ANALYZE search_index');
    const service = t.app.get(SearchService);
    for (const params of [[['address:contains', 'zanzibar']], [['address', 'zanzibar']]] as [string, string][][]) {
      const page = service.pageSql({ resourceType: 'Patient', params });
      const plan = (await t.db.query(`EXPLAIN (FORMAT JSON) ${page.sql}`, page.values)).rows[0]['QUERY PLAN'];
      const nodes: any[] = [];
      const walk = (n: any) => {
        nodes.push(n);
        (n.Plans ?? []).forEach(walk);
      };
      walk((typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan);
      if (process.env.SHOW_PLANS) console.log(params, JSON.stringify(nodes.map((n) => [n['Node Type'], n['Index Name'], n['Index Cond'], n.Filter, n['Subplan Name']])));
      expect(nodes.some((n) => n['Node Type'] === 'Index Only Scan' && n['Index Name'] === 'search_index_string_idx')).toBe(true);
    }
  });
});

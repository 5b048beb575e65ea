import { RecordPager } from '../../../src/fhir/operations/everything-pager';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

const pad = (i: number) => String(i).padStart(3, '0');

/** A transaction Bundle that PUTs these resources. */
function transaction(resources: any[]) {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: resources.map((r) => ({ resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } })),
  };
}

// R4 patient-operation-everything.html (Patient/$everything, `_count` and paging) with search.html
// §3.1.1.6 paging: keyset cursors, so a deep page costs what the first does and nothing is repeated or skipped
describe('Patient/$everything pages a large compartment by keyset', () => {
  let t: TestApp;
  /** the record of Patient/big as `Type/id`, Patient first */
  let expected: string[];
  const read: number[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    const big = { reference: 'Patient/big' };
    const resources: any[] = [
      { resourceType: 'Patient', id: 'big', name: [{ family: 'Many' }] },
      { resourceType: 'Patient', id: 'other' },
      { resourceType: 'Practitioner', id: 'doc', name: [{ family: 'Doc' }] },
    ];
    for (let i = 0; i < 120; i++) {
      resources.push({ resourceType: 'Observation', id: `obs-${pad(i)}`, status: 'final', code: { text: 'hr' }, subject: big, performer: [{ reference: 'Practitioner/doc' }] });
    }
    for (let i = 0; i < 70; i++) resources.push({ resourceType: 'Condition', id: `cond-${pad(i)}`, subject: big, code: { text: 'c' } });
    for (let i = 0; i < 60; i++) resources.push({ resourceType: 'Encounter', id: `enc-${pad(i)}`, status: 'finished', class: { code: 'AMB' }, subject: big });
    // another patient's record: never part of the pages
    for (let i = 0; i < 20; i++) resources.push({ resourceType: 'Observation', id: `other-${pad(i)}`, status: 'final', code: { text: 'hr' }, subject: { reference: 'Patient/other' } });
    const r = await t.http.post('/fhir').set('Content-Type', FHIR_JSON).send(transaction(resources));
    expect(r.status).toBe(200);
    expected = resources.filter((x) => x.resourceType !== 'Practitioner' && x.id !== 'other' && !x.id.startsWith('other-')).map((x) => `${x.resourceType}/${x.id}`);
    expect(expected.length).toBe(251);
    // what each page reads from the database (the pager's per-type keyset queries)
    const original = (RecordPager.prototype as any).typePage;
    jest.spyOn(RecordPager.prototype as any, 'typePage').mockImplementation(async function (this: unknown, ...args: unknown[]) {
      const rows = await original.apply(this, args);
      read[read.length - 1] += rows.length;
      return rows;
    });
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await t.close();
  });

  const rel = (url: string) => url.slice(t.config.publicUrl.length);
  const link = (b: any, relation: string) => b.link.find((l: any) => l.relation === relation)?.url as string | undefined;
  const matches = (b: any) => (b.entry ?? []).filter((e: any) => e.search.mode === 'match').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);

  async function get(url: string): Promise<any> {
    read.push(0);
    const r = await t.http.get(url);
    expect(r.status).toBe(200);
    return r.body;
  }

  it('250 resources at _count=50: six pages, every resource once, in order, each page reading at most _count + 1 rows', async () => {
    const pages: any[] = [];
    let url: string | undefined = '/fhir/Patient/big/$everything?_count=50';
    while (url) {
      pages.push(await get(url));
      url = link(pages[pages.length - 1], 'next');
      if (url) url = rel(url);
    }
    const seen = pages.flatMap(matches);
    expect(pages.map((p) => matches(p).length)).toEqual([50, 50, 50, 50, 50, 1]);
    expect(seen).toEqual(expected.slice(0, 1).concat(expected.slice(1).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))));
    expect(new Set(seen)).toEqual(new Set(expected));
    // the referenced Practitioner comes with the pages that refer to it
    expect(pages.some((p) => p.entry.some((e: any) => e.search.mode === 'include' && e.resource.id === 'doc'))).toBe(true);
    // page N costs what page 1 does: the record before the cursor is never read again
    expect(Math.max(...read)).toBeLessThanOrEqual(51);
    expect(pages.every((p) => p.link.every((l: any) => !l.url.includes('_offset')))).toBe(true);
    // a total is given when it is free (one page) or asked for
    expect(pages[0].total).toBeUndefined();
    expect((await get('/fhir/Patient/big/$everything?_count=50&_total=accurate')).total).toBe(251);
    expect((await get('/fhir/Patient/big/$everything?_count=1000')).total).toBe(251);
  });

  it('previous links page back across type boundaries to exactly the earlier pages', async () => {
    const p1 = await get('/fhir/Patient/big/$everything?_count=50');
    const p2 = await get(rel(link(p1, 'next')!));
    const p3 = await get(rel(link(p2, 'next')!));
    const back2 = await get(rel(link(p3, 'previous')!));
    expect(matches(back2)).toEqual(matches(p2));
    const back1 = await get(rel(link(back2, 'previous')!));
    expect(matches(back1)).toEqual(matches(p1));
    expect(link(back1, 'previous')).toBeUndefined();
    expect(matches(await get(rel(link(back1, 'next')!)))).toEqual(matches(p2));
  });

  it('writes between pages shift nothing: no duplicates, no gaps (keyset, not offset)', async () => {
    const p1 = await get('/fhir/Patient/big/$everything?_count=50');
    // before the cursor: two new Conditions sorting early, and one removed from the first page
    for (const id of ['cond-000a', 'cond-000b']) {
      await t.http.put(`/fhir/Condition/${id}`).set('Content-Type', FHIR_JSON).send({ resourceType: 'Condition', id, subject: { reference: 'Patient/big' } });
    }
    expect((await t.http.delete('/fhir/Condition/cond-001')).status).toBeLessThan(300);
    // after it: a new Observation sorting last
    await t.http.put('/fhir/Observation/obs-zzz').set('Content-Type', FHIR_JSON).send({ resourceType: 'Observation', id: 'obs-zzz', status: 'final', code: { text: 'hr' }, subject: { reference: 'Patient/big' } });
    const seen = matches(p1);
    let url = link(p1, 'next');
    while (url) {
      const page = await get(rel(url));
      seen.push(...matches(page));
      url = link(page, 'next');
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(seen)).toEqual(new Set([...expected, 'Observation/obs-zzz']));
  });

  it('_type, _since and _count keep their meaning across pages', async () => {
    const seen: string[] = [];
    let url: string | undefined = '/fhir/Patient/big/$everything?_type=Encounter&_count=25';
    while (url) {
      const page = await get(url);
      seen.push(...matches(page));
      url = link(page, 'next');
      if (url) {
        expect(url).toContain('_type=Encounter');
        url = rel(url);
      }
    }
    expect(seen).toEqual(expected.filter((k) => k.startsWith('Encounter/')).sort());
    const future = encodeURIComponent(new Date(Date.now() + 3600_000).toISOString());
    const none = await get(`/fhir/Patient/big/$everything?_since=${future}`);
    expect(none.total).toBe(0);
    expect((await t.http.get('/fhir/Patient/big/$everything?_cursor=not-a-cursor')).status).toBe(400);
    expect((await t.http.get('/fhir/Patient/big/$everything?_offset=50')).status).toBe(400);
  });
});

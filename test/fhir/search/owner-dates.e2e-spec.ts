import { Database } from '../../../src/database/database';
import { OwnerDatesState } from '../../../src/fhir/search/owner-dates';
import { Reindexer } from '../../../src/fhir/search/reindex';
import { SearchIndexer } from '../../../src/fhir/search/search-indexer';
import type { RequestContext } from '../../../src/fhir/rest/request-context';
import { SearchRestriction, SearchService } from '../../../src/fhir/search/search.service';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { allPages, create } from './search-helpers';

/**
 * A patient's resources sorted by a date come from owner date rows (index-tables.ts ownerDateRows,
 * SearchSql.ownerPage) where they fit. The oracle is search.html §3.1.1.5.5 (_sort): ascending by
 * the lowest value of the parameter, descending by the highest, ties by id, resources without a
 * value last; a date criterion holds when any value of the parameter meets it (§2.1.1.3), and a
 * reference criterion when the reference matches (§2.1.1.7). Every query is followed page by page
 * with small pages, so the owner page, its completion by the usual page and the cursors all run.
 */
describe('date sort from owner date rows (search.html#sort)', () => {
  let t: TestApp;
  let p1: string;
  let p2: string;
  /** per Observation: id, subject, [low, high] of `date` (undefined: no value), code */
  const obs: { id: string; subject: string; low?: string; high?: string; code: string; performer?: string }[] = [];

  const day = (d: string): [string, string] => [`${d}T00:00:00.000`, `${d}T23:59:59.999`];
  async function observation(subject: string, code: string, effective: Record<string, unknown>, range?: [string, string], performer?: string) {
    const id = await create(t, {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code }] },
      subject: { reference: `Patient/${subject}` },
      ...(performer ? { performer: [{ reference: `Patient/${performer}` }] } : {}),
      ...effective,
    });
    obs.push({ id, subject, low: range?.[0], high: range?.[1], code, performer });
  }

  beforeAll(async () => {
    t = await startTestApp();
    p1 = await create(t, { resourceType: 'Patient', name: [{ family: 'Owner' }] });
    p2 = await create(t, { resourceType: 'Patient', name: [{ family: 'Other' }] });
    await observation(p1, '8867-4', { effectiveDateTime: '2020-01-05' }, day('2020-01-05'));
    await observation(p1, '8310-5', { effectivePeriod: { start: '2019-01-01', end: '2021-06-30' } }, [day('2019-01-01')[0], day('2021-06-30')[1]]);
    await observation(p1, '8867-4', {});
    await observation(p1, '8867-4', { effectiveDateTime: '2021-03-01' }, day('2021-03-01'));
    await observation(p1, '8310-5', { effectiveDateTime: '2021-03-01' }, day('2021-03-01'));
    await observation(p1, '8310-5', { effectiveDateTime: '2022-11-11' }, day('2022-11-11'), p2);
    await observation(p2, '8867-4', { effectiveDateTime: '2018-02-02' }, day('2018-02-02'));
    await observation(p2, '8310-5', { effectiveDateTime: '2019-09-09' }, day('2019-09-09'));
    await observation(p1, '8310-5', {});
    await observation(p1, '8867-4', { effectiveDateTime: '2017-05-05T10:00:00Z' }, ['2017-05-05T10:00:00.000', '2017-05-05T10:00:00.000']);
  });
  afterAll(async () => t.close());

  /** The spec's order: by the highest value descending (lowest ascending), ties by id, no value last. */
  function expected(filter: (o: (typeof obs)[number]) => boolean, descending: boolean): string[] {
    const key = (o: (typeof obs)[number]) => (descending ? o.high : o.low);
    return obs
      .filter(filter)
      .sort((a, b) => {
        const ka = key(a);
        const kb = key(b);
        if (ka === undefined || kb === undefined) return ka === kb ? a.id.localeCompare(b.id) : ka === undefined ? 1 : -1;
        return (descending ? kb.localeCompare(ka) : ka.localeCompare(kb)) || a.id.localeCompare(b.id);
      })
      .map((o) => o.id);
  }

  it('writes an owner date row per date value and reference to a Patient', async () => {
    const withPerformer = obs.find((o) => o.performer)!;
    const r = await t.db.query(`SELECT system, value FROM search_index WHERE resource_id = $1 AND kind = 'o' ORDER BY system`, [withPerformer.id]);
    expect(r.rows).toEqual([
      { system: 'performer', value: `Patient/${p2}` },
      { system: 'subject', value: `Patient/${p1}` },
    ]);
    const undated = obs.find((o) => !o.low)!;
    expect((await t.db.query(`SELECT 1 FROM search_index WHERE resource_id = $1 AND kind = 'o'`, [undated.id])).rowCount).toBe(0);
  });

  it('the first page comes from owner date rows on a database indexed with them', async () => {
    const page = t.app.get(SearchService).pageSql({ resourceType: 'Observation', params: [['subject', `Patient/${p1}`], ['_sort', '-date']] });
    expect(page.sql).toContain(`kind = 'o'`);
  });

  it('_sort=-date and _sort=date over a patient: highest / lowest value, ties by id, no value last, across pages', async () => {
    const mine = (o: (typeof obs)[number]) => o.subject === p1;
    expect(await allPages(t, `Observation?subject=Patient/${p1}&_sort=-date&_count=2`)).toEqual(expected(mine, true));
    expect(await allPages(t, `Observation?subject=Patient/${p1}&_sort=date&_count=3`)).toEqual(expected(mine, false));
    // `patient` is stored as `subject` rows of a Patient; a bare id and the :Patient modifier name the same
    expect(await allPages(t, `Observation?patient=${p1}&_sort=-date&_count=4`)).toEqual(expected(mine, true));
    expect(await allPages(t, `Observation?subject:Patient=${p1}&_sort=-date&_count=20`)).toEqual(expected(mine, true));
  });

  it('previous links walk the same pages back (http.html#paging), across resources with and without a value', async () => {
    const mine = (o: (typeof obs)[number]) => o.subject === p1;
    const pages: { ids: string[]; previous?: string }[] = [];
    let url: string | undefined = `/fhir/Observation?subject=Patient/${p1}&_sort=-date&_count=2`;
    while (url) {
      const res = await t.http.get(url);
      expect(res.status).toBe(200);
      const link = (rel: string) => res.body.link?.find((l: any) => l.relation === rel)?.url?.replace(t.baseUrl, '/fhir');
      pages.push({ ids: (res.body.entry ?? []).map((e: any) => e.resource.id), previous: link('previous') });
      url = link('next');
    }
    expect(pages.flatMap((p) => p.ids)).toEqual(expected(mine, true));
    for (let i = pages.length - 1; i > 0; i--) {
      const back = await t.http.get(pages[i].previous!);
      expect((back.body.entry ?? []).map((e: any) => e.resource.id)).toEqual(pages[i - 1].ids);
    }
  });

  it('with a date criterion on the sort parameter, other criteria, several patients, another reference', async () => {
    const since2021 = (o: (typeof obs)[number]) => o.subject === p1 && o.high !== undefined && o.high >= '2021-01-01';
    expect(await allPages(t, `Observation?subject=Patient/${p1}&date=ge2021-01-01&_sort=-date&_count=2`)).toEqual(expected(since2021, true));
    const code = (o: (typeof obs)[number]) => o.subject === p1 && o.code === '8867-4';
    expect(await allPages(t, `Observation?subject=Patient/${p1}&code=http://loinc.org|8867-4&_sort=-date&_count=2`)).toEqual(expected(code, true));
    expect(await allPages(t, `Observation?subject=Patient/${p1},Patient/${p2}&_sort=date&_count=4`)).toEqual(expected(() => true, false));
    expect(await allPages(t, `Observation?performer=Patient/${p2}&_sort=-date`)).toEqual(expected((o) => o.performer === p2, true));
    expect(await allPages(t, `Observation?subject=Patient/nobody&_sort=-date`)).toEqual([]);
  });

  it('a compartment search and a patient-scoped restriction (CompartmentDefinition-patient: subject, performer)', async () => {
    const inCompartment = (p: string) => (o: (typeof obs)[number]) => o.subject === p || o.performer === p;
    expect(await allPages(t, `Patient/${p1}/Observation?_sort=-date&_count=2`)).toEqual(expected(inCompartment(p1), true));
    expect(await allPages(t, `Patient/${p2}/Observation?_sort=date&_count=1`)).toEqual(expected(inCompartment(p2), false));
    // p2 has two dated Observations as subject and one as performer: a page of one filled from the owner
    // rows is complete only if the rows of both compartment parameters were read
    const dated = (p: string) => (o: (typeof obs)[number]) => inCompartment(p)(o) && o.low !== undefined;
    expect(await allPages(t, `Patient/${p2}/Observation?date=ge1900-01-01&_sort=-date&_count=1`)).toEqual(expected(dated(p2), true));
    const service = t.app.get(SearchService);
    const compartmentPage = service.pageSql({ resourceType: 'Observation', params: [['_sort', '-date']], compartment: { resourceType: 'Patient', id: p1 } });
    expect(compartmentPage.sql).toContain(`kind = 'o'`);
    // patient/*.rs for p2 (as the auth module derives it): the same resources, and only those
    const restriction: SearchRestriction = { criteriaFor: () => [[['_compartment', `Patient/${p2}`]]] };
    expect(service.pageSql({ resourceType: 'Observation', params: [['_sort', '-date']], restriction }).sql).toContain(`kind = 'o'`);
    const ctx: RequestContext = { baseUrl: t.baseUrl, requestId: 'test', prefer: {} };
    const found = async (params: [string, string][]) =>
      (JSON.parse((await service.search(ctx, { resourceType: 'Observation', params, restriction })).body as string).entry ?? []).map((e: any) => e.resource.id);
    expect(await found([['_sort', '-date'], ['code', 'http://loinc.org|8867-4,http://loinc.org|8310-5']])).toEqual(expected(inCompartment(p2), true));
    expect(await found([['_sort', '-date'], ['date', 'ge1900-01-01']])).toEqual(expected(dated(p2), true));
  });

  it('an update moves the resource in the order; a delete takes it out', async () => {
    const first = obs.find((o) => o.subject === p1 && o.high === day('2020-01-05')[1])!;
    const res = await t.http.put(`/fhir/Observation/${first.id}`).set('Content-Type', 'application/fhir+json').send({
      resourceType: 'Observation', id: first.id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: first.code }] },
      subject: { reference: `Patient/${p1}` }, effectiveDateTime: '2030-01-01',
    });
    expect(res.status).toBe(200);
    [first.low, first.high] = day('2030-01-01');
    const mine = (o: (typeof obs)[number]) => o.subject === p1;
    expect(await allPages(t, `Observation?subject=Patient/${p1}&_sort=-date&_count=3`)).toEqual(expected(mine, true));
    expect((await t.http.delete(`/fhir/Observation/${first.id}`)).status).toBe(204);
    obs.splice(obs.indexOf(first), 1);
    expect(await allPages(t, `Observation?subject=Patient/${p1}&_sort=-date&_count=3`)).toEqual(expected(mine, true));
  });

  it('data without owner date rows: not used until a full reindex writes them and marks them ready', async () => {
    const db = t.app.get(Database);
    await db.query(`DELETE FROM search_index WHERE kind = 'o'`);
    await db.query(`UPDATE search_index_feature SET ready = false WHERE name = 'owner_dates'`);
    const state = new OwnerDatesState(db);
    expect(await state.refresh()).toBe(false);
    const reindexer = new Reindexer(db, t.app.get(SearchIndexer), t.config.profilesDir);
    await reindexer.run({ types: ['Observation'] });
    expect(await state.refresh()).toBe(false); // one type is not every resource
    await reindexer.run();
    expect(await state.refresh()).toBe(true);
    const n = await db.query(`SELECT count(*)::int AS n FROM search_index WHERE kind = 'o'`);
    expect(n.rows[0].n).toBe(obs.filter((o) => o.low).length + obs.filter((o) => o.low && o.performer).length);
    expect(await allPages(t, `Observation?subject=Patient/${p1}&_sort=-date&_count=2`)).toEqual(expected((o) => o.subject === p1, true));
  });
});

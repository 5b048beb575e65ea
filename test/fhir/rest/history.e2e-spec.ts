import { startTestApp, TestApp } from '../../helpers/test-app';

// R4 http.html §3.1.0.11 history: instance, type, system; _since, _at, _count; next links
describe('history (http.html §3.1.0.11)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('instance history lists every version newest first, deletes included', async () => {
    const c = await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', active: true });
    const id = c.body.id;
    await t.http.put(`/fhir/Patient/${id}`).send({ resourceType: 'Patient', id, active: false });
    await t.http.delete(`/fhir/Patient/${id}`);
    const h = await t.http.get(`/fhir/Patient/${id}/_history`);
    expect(h.status).toBe(200);
    expect(h.body.type).toBe('history');
    expect(h.body.entry.map((e: any) => e.response.etag)).toEqual(['W/"3"', 'W/"2"', 'W/"1"']);
    expect(h.body.entry[0].request.method).toBe('DELETE');
    expect(h.body.entry[0].resource).toBeUndefined();
    expect(h.body.entry[2].request.method).toBe('POST');
    expect(h.body.entry[1].resource.active).toBe(false);
  });

  // bundle.html Bundle.entry.response: in a history, "what the results of an operation were": a PUT that re-creates
  // a deleted resource answers 201 Created, and its history entry says so too (it said 200 OK before)
  it('a version that re-creates a deleted resource is 201 Created in history, as its PUT answered', async () => {
    const id = (await t.http.post('/fhir/Basic').send({ resourceType: 'Basic', code: { text: 'x' } })).body.id;
    await t.http.delete(`/fhir/Basic/${id}`);
    const put = await t.http.put(`/fhir/Basic/${id}`).send({ resourceType: 'Basic', id, code: { text: 'y' } });
    expect(put.status).toBe(201);
    await t.http.put(`/fhir/Basic/${id}`).send({ resourceType: 'Basic', id, code: { text: 'z' } });
    const statuses = ['201 Created', '204 No Content', '201 Created', '200 OK'].reverse();
    const h = await t.http.get(`/fhir/Basic/${id}/_history`);
    expect(h.body.entry.map((e: any) => e.response.status)).toEqual(statuses);
    const type = await t.http.get('/fhir/Basic/_history');
    expect(type.body.entry.filter((e: any) => e.fullUrl.endsWith(`/${id}`)).map((e: any) => e.response.status)).toEqual(statuses);
    // the change feed holds rows back while an older transaction of the database runs (other test files): poll
    let fed: string[] = [];
    for (const deadline = Date.now() + 30_000; fed.length < 4 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      const feed = await t.http.get('/fhir/Basic/_history?_sort=_lastUpdated&_count=1000');
      fed = (feed.body.entry ?? []).filter((e: any) => e.fullUrl.endsWith(`/${id}`)).map((e: any) => e.response.status);
    }
    expect(fed).toEqual([...statuses].reverse());
  });

  it('type and system history page with _count and next links until the end, without duplicates', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await t.http.post('/fhir/Device').send({ resourceType: 'Device', status: 'active' });
      ids.push(r.body.id);
    }
    const seen: string[] = [];
    let url: string | undefined = '/fhir/Device/_history?_count=3';
    let pages = 0;
    while (url) {
      const res = await t.http.get(url);
      expect(res.status).toBe(200);
      seen.push(...res.body.entry.map((e: any) => e.resource.id));
      const next = res.body.link.find((l: any) => l.relation === 'next');
      url = next ? next.url.replace(t.baseUrl, '/fhir') : undefined;
      // a write between pages must not disturb later pages
      if (pages++ === 0) await t.http.post('/fhir/Device').send({ resourceType: 'Device', status: 'inactive' });
    }
    expect(seen).toEqual([...ids].reverse());
    const sys = await t.http.get('/fhir/_history?_count=2&_type=Device');
    expect(sys.body.entry).toHaveLength(2);
    expect(sys.body.link.some((l: any) => l.relation === 'next')).toBe(true);
  });

  it('_since keeps versions created at or after the instant; _at the versions current then', async () => {
    const c = await t.http.post('/fhir/Location').send({ resourceType: 'Location', name: 'A' });
    const id = c.body.id;
    await new Promise((r) => setTimeout(r, 20));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    await t.http.put(`/fhir/Location/${id}`).send({ resourceType: 'Location', id, name: 'B' });
    const since = await t.http.get(`/fhir/Location/${id}/_history?_since=${encodeURIComponent(between)}`);
    expect(since.body.entry.map((e: any) => e.resource.name)).toEqual(['B']);
    const at = await t.http.get(`/fhir/Location/${id}/_history?_at=${encodeURIComponent(between)}`);
    expect(at.body.entry.map((e: any) => e.resource.name)).toEqual(['A']);
    expect((await t.http.get('/fhir/Location/_history?_since=not-a-date')).status).toBe(400);
  });

  // search.html#count: "Servers SHALL NOT return more resources than requested" (history takes _count like search);
  // _count=0 asks for no entries: none, and no next link (http.html#history)
  it('_count=0 returns no entries and no next link, at instance, type and system level and in the change feed', async () => {
    const id = (await t.http.post('/fhir/Substance').send({ resourceType: 'Substance', code: { text: 'zero' } })).body.id;
    for (const url of [`/fhir/Substance/${id}/_history`, '/fhir/Substance/_history', '/fhir/_history', '/fhir/_history?_sort=_lastUpdated']) {
      const res = await t.http.get(`${url}${url.includes('?') ? '&' : '?'}_count=0`);
      expect(res.status).toBe(200);
      expect(res.body.type).toBe('history');
      expect(res.body.entry ?? []).toHaveLength(0);
      expect(res.body.link.map((l: any) => l.relation)).toEqual(['self']);
    }
    // an unknown instance is still 404
    expect((await t.http.get('/fhir/Substance/not-there/_history?_count=0')).status).toBe(404);
  });
});

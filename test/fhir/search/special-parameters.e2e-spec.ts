import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, search, sorted } from './search-helpers';

// R4 search.html#all: parameters for all resources (_id _lastUpdated _tag _profile _security _source
// _text _content _list), :missing (#modifiers), and how the server treats parameters it does not know
// (#errors, `Prefer: handling`) and hostile values.
describe('parameters for all resources and error handling (search.html)', () => {
  let t: TestApp;
  const d: Record<string, string> = {};
  let between: string;
  beforeAll(async () => {
    t = await startTestApp();
    d.a = await create(t, {
      resourceType: 'Device',
      meta: {
        tag: [{ system: 'urn:tags', code: 'red' }],
        security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }],
        profile: ['http://example.org/StructureDefinition/special-device'],
        source: 'urn:source:lab-a',
      },
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Infusion <b>pump</b> in ward&nbsp;seven</p></div>' },
      manufacturer: 'Acme Medical',
    });
    await new Promise((r) => setTimeout(r, 30));
    between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 30));
    d.b = await create(t, { resourceType: 'Device', meta: { tag: [{ system: 'urn:tags', code: 'blue' }] }, manufacturer: 'Zenith Devices', note: [{ text: 'battery replaced' }] });
    d.c = await create(t, { resourceType: 'Device', status: 'active' });
  });
  afterAll(async () => t.close());

  it('_id matches ids (OR with commas); _lastUpdated compares with prefixes', async () => {
    expect(await ids(t, `Device?_id=${d.a},${d.c}`)).toEqual(sorted([d.a, d.c]));
    expect(await ids(t, `Device?_lastUpdated=gt${encodeURIComponent(between)}`)).toEqual(sorted([d.b, d.c]));
    expect(await ids(t, `Device?_lastUpdated=lt${encodeURIComponent(between)}`)).toEqual([d.a]);
  });

  it('_tag, _security, _profile, _source', async () => {
    expect(await ids(t, 'Device?_tag=urn:tags|red')).toEqual([d.a]);
    expect(await ids(t, 'Device?_tag=blue')).toEqual([d.b]);
    expect(await ids(t, 'Device?_security=R')).toEqual([d.a]);
    expect(await ids(t, 'Device?_profile=http://example.org/StructureDefinition/special-device')).toEqual([d.a]);
    expect(await ids(t, 'Device?_source=urn:source:lab-a')).toEqual([d.a]);
  });

  it('_text searches the narrative, _content the whole resource (full text)', async () => {
    expect(await ids(t, 'Device?_text=pump')).toEqual([d.a]);
    expect(await ids(t, 'Device?_text=ward seven')).toEqual([d.a]);
    expect(await ids(t, 'Device?_text=acme')).toEqual([]); // not in the narrative
    expect(await ids(t, 'Device?_content=acme')).toEqual([d.a]);
    expect(await ids(t, 'Device?_content=battery')).toEqual([d.b]);
    expect(await ids(t, 'Device?_content=acme,zenith')).toEqual(sorted([d.a, d.b]));
  });

  it('_list keeps the resources a List refers to', async () => {
    const list = await create(t, { resourceType: 'List', status: 'current', mode: 'working', entry: [{ item: { reference: `Device/${d.b}` } }, { item: { reference: `Device/${d.c}` } }] });
    expect(await ids(t, `Device?_list=${list}`)).toEqual(sorted([d.b, d.c]));
    // search.html#list: the List's id, here also as `List/[id]`; an unknown functional list is 400 rather than an
    // empty answer, ignored and reported when lenient (the known ones: functional-lists.e2e-spec.ts)
    expect(await ids(t, `Device?_list=List/${list}`)).toEqual(sorted([d.b, d.c]));
    const fn = await t.http.get('/fhir/Device?_list=$current-devices');
    expect([fn.status, fn.body.issue?.[0]?.diagnostics]).toEqual([400, expect.stringContaining('unknown functional list')]);
    const lenient = await t.http.get('/fhir/Device?_list=$current-devices').set('Prefer', 'handling=lenient');
    expect(lenient.status).toBe(200);
    expect(lenient.body.entry.some((e: any) => e.search?.mode === 'outcome')).toBe(true);
    expect((await t.http.get('/fhir/Device?_list=Patient/1')).status).toBe(400);
  });

  it(':missing=true keeps resources without the element, :missing=false those with it', async () => {
    expect(await ids(t, 'Device?status:missing=true')).toEqual(sorted([d.a, d.b]));
    expect(await ids(t, 'Device?status:missing=false')).toEqual([d.c]);
    expect((await t.http.get('/fhir/Device?status:missing=maybe')).status).toBe(400);
  });

  it('an unknown parameter or modifier is 400 by default and with Prefer: handling=strict', async () => {
    for (const q of ['Device?colour=red', 'Device?status:sounds-like=x', 'Device?_query=everything', 'Device?_filter=status co active', 'Device?manufacturer.name=x']) {
      const res = await t.http.get(`/fhir/${q}`);
      expect(res.status).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    expect((await t.http.get('/fhir/Device?colour=red').set('Prefer', 'handling=strict')).status).toBe(400);
  });

  it('under Prefer: handling=lenient unknown parameters are ignored, reported, and left out of the self link', async () => {
    const b = await search(t, `Device?colour=red&_id=${d.a}`, { Prefer: 'handling=lenient' });
    expect(b.entry.filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.id)).toEqual([d.a]);
    const outcome = b.entry.find((e: any) => e.search.mode === 'outcome');
    expect(outcome.resource.resourceType).toBe('OperationOutcome');
    expect(outcome.resource.issue[0].diagnostics).toContain('colour');
    const self = b.link.find((l: any) => l.relation === 'self').url;
    expect(self).toContain(`_id=${d.a}`);
    expect(self).not.toContain('colour');
  });

  it('hostile values reach SQL only as bound parameters and give correct, empty results', async () => {
    const hostile = ["' OR '1'='1", "x'); DROP TABLE resource; --", '%', '_', '\\', '*', '\u0000', 'a'.repeat(5000), '😀', "Robert'); --"];
    for (const v of hostile) {
      const q = encodeURIComponent(v);
      for (const path of [`Device?manufacturer=${q}`, `Device?_id=${q}`, `Device?_tag=${q}`, `Device?_content=${q}`, `Device?identifier=${q}|${q}`, `Observation?subject:Patient.name=${q}`, `Device?manufacturer:contains=${q}`]) {
        const res = await t.http.get(`/fhir/${path}`);
        expect([200, 400]).toContain(res.status);
        if (res.status === 200) expect(res.body.entry.filter((e: any) => e.search.mode === 'match')).toEqual([]);
      }
    }
    expect((await t.http.get('/fhir/Device?_count=-1')).status).toBe(400);
    expect((await t.http.get('/fhir/Device?_count=abc')).status).toBe(400);
    expect((await t.http.get('/fhir/Device?_sort=colour')).status).toBe(400);
    expect((await t.http.get('/fhir/Device?_cursor=bm9wZQ')).status).toBe(400);
    // the data is intact
    expect(await ids(t, 'Device?_tag=red')).toEqual([d.a]);
  });
});

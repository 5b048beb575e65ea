import type { AuditEvent, Bundle } from 'fhir/r4';
import { AuditService } from '../../src/audit/audit.service';
import { startTestApp, TestApp } from '../helpers/test-app';
import { rid } from './audit-helpers';

// AuditEvent search (R4 auditevent.html#search, search.html): date, agent,
// entity, patient, type, subtype, action, outcome over the audit trail's own
// table; token `system|code`, date prefixes, references by id or Type/id,
// paging with next links; unknown parameters 400 (or ignored when lenient).
describe('AuditEvent search (auditevent.html search parameters)', () => {
  let t: TestApp;
  let patientId: string;
  let obsId: string;
  let start: Date;
  beforeAll(async () => {
    t = await startTestApp();
    start = new Date();
    patientId = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Searched' }] })).body.id;
    obsId = (
      await t.http.post('/fhir/Observation').send({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'x' },
        subject: { reference: `Patient/${patientId}` },
      })
    ).body.id;
    await t.http.get(`/fhir/Observation/${obsId}`);
    await t.http.get('/fhir/Observation/missing');
    await t.app.get(AuditService).recordSecurityEvent({ kind: 'login', success: true, username: 'dr.smith', fhirUser: 'Practitioner/dr-smith', clientId: 'demo-app' });
  });
  afterAll(async () => t.close());

  async function search(query: string): Promise<AuditEvent[]> {
    const res = await t.http.get(`/fhir/AuditEvent?${query}&_count=1000`);
    expect(res.status).toBe(200);
    return ((res.body as Bundle).entry ?? []).map((e) => e.resource as AuditEvent);
  }
  const refs = (e: AuditEvent) => (e.entity ?? []).map((x) => x.what?.reference);

  it('entity: by Type/id, with a version, and by id alone', async () => {
    const events = await search(`entity=Observation/${obsId}`);
    expect(events.map((e) => e.action).sort()).toEqual(['C', 'R']);
    expect((await search(`entity=Observation/${obsId}/_history/1`)).length).toBe(2);
    expect((await search(`entity=Observation/${obsId}/_history/2`)).length).toBe(0);
    expect((await search(`entity=${obsId}`)).length).toBe(2);
    expect((await search(`entity=${t.baseUrl}/Observation/${obsId}`)).length).toBe(2);
  });

  it('patient: every event about the Patient, from its own resource or one referencing it', async () => {
    // searching the trail is itself audited: compare what was recorded before now
    const before = `date=lt${new Date().toISOString()}`;
    const events = await search(`patient=Patient/${patientId}&${before}`);
    const entities = events.flatMap(refs);
    expect(entities).toContain(`Patient/${patientId}/_history/1`);
    expect(entities).toContain(`Observation/${obsId}/_history/1`);
    expect((await search(`patient=${patientId}&${before}`)).length).toBe(events.length);
    expect(await search('patient=someone-else')).toEqual([]);
  });

  it('action, outcome, type and subtype tokens (with and without system)', async () => {
    expect((await search(`entity=Observation/${obsId}&action=C`)).map((e) => e.action)).toEqual(['C']);
    const failed = await search('outcome=4');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((e) => e.outcome === '4')).toBe(true);
    expect((await search('subtype=http://hl7.org/fhir/restful-interaction|create')).every((e) => e.subtype?.[0].code === 'create')).toBe(true);
    expect(await search('subtype=http://wrong.system|create')).toEqual([]);
    const logins = await search('type=http://dicom.nema.org/resources/ontology/DCM|110114');
    expect(logins.length).toBe(1);
    const before = `date=lt${new Date().toISOString()}`;
    expect((await search(`type=rest,110114&${before}`)).length).toBe((await search(`type=rest&${before}`)).length + 1);
  });

  it('agent (the user as fhirUser) and agent-name (client or login)', async () => {
    const byUser = await search('agent=Practitioner/dr-smith');
    expect(byUser).toHaveLength(1);
    expect(byUser[0].agent.some((a) => a.who?.reference === 'Practitioner/dr-smith')).toBe(true);
    expect(await search('agent=dr-smith')).toHaveLength(1);
    expect(await search('agent-name=demo')).toHaveLength(1);
    expect(await search('altid=dr.smith')).toHaveLength(1);
  });

  it('date with prefixes; newest first; _sort=date ascending', async () => {
    const all = await search(`date=ge${start.toISOString()}`);
    expect(all.length).toBeGreaterThanOrEqual(5);
    const times = all.map((e) => Date.parse(e.recorded));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(await search(`date=lt${start.toISOString()}`)).toEqual([]);
    // a day is an implicit range: every event of that day, none of another (search.html §3.1.1.5.1)
    const first = all[all.length - 1];
    const day = first.recorded.slice(0, 10);
    const ofDay = await search(`date=${day}`);
    expect(ofDay.map((e) => e.id)).toContain(first.id);
    expect(ofDay.every((e) => e.recorded.startsWith(day))).toBe(true);
    const asc = (await search(`date=ge${start.toISOString()}&_sort=date`)).map((e) => Date.parse(e.recorded));
    expect(asc).toEqual([...asc].sort((a, b) => a - b));
  });

  it('pages with next links to the end, no duplicates, and _summary=count / _total', async () => {
    for (let i = 0; i < 7; i++) await t.http.get(`/fhir/Patient/${patientId}`).set('X-Request-Id', rid());
    const total = (await t.http.get(`/fhir/AuditEvent?patient=${patientId}&_summary=count`)).body.total;
    let url: string | undefined = `/fhir/AuditEvent?patient=${patientId}&_count=3`;
    const seen: string[] = [];
    while (url) {
      const res = await t.http.get(url.replace(t.baseUrl, '/fhir'));
      expect(res.status).toBe(200);
      seen.push(...(res.body.entry ?? []).map((e: any) => e.resource.id));
      url = res.body.link.find((l: any) => l.relation === 'next')?.url;
    }
    expect(new Set(seen).size).toBe(seen.length);
    // the searches themselves are audited as they go: at least the events that existed at the start
    expect(seen.length).toBeGreaterThanOrEqual(total);
  });

  it('unknown parameters: 400, or ignored and reported under Prefer: handling=lenient (search.html §3.1.1.1.3)', async () => {
    expect((await t.http.get('/fhir/AuditEvent?bogus=1')).status).toBe(400);
    expect((await t.http.get('/fhir/AuditEvent?date=yesterday')).status).toBe(400);
    const lenient = await t.http.get('/fhir/AuditEvent?bogus=1&_count=1').set('Prefer', 'handling=lenient');
    expect(lenient.status).toBe(200);
    expect(lenient.body.entry.some((e: any) => e.search.mode === 'outcome')).toBe(true);
  });

  it('read, vread and the Patient compartment; AuditEvent in the CapabilityStatement is read-only', async () => {
    const [one] = await search(`entity=Observation/${obsId}&action=C`);
    expect((await t.http.get(`/fhir/AuditEvent/${one.id}`)).body.id).toBe(one.id);
    expect((await t.http.get(`/fhir/AuditEvent/${one.id}/_history/1`)).status).toBe(200);
    expect((await t.http.get(`/fhir/AuditEvent/${one.id}/_history/2`)).status).toBe(404);
    expect((await t.http.get('/fhir/AuditEvent/not-a-uuid')).status).toBe(404);
    const comp = await t.http.get(`/fhir/Patient/${patientId}/AuditEvent?action=C`);
    expect(comp.body.entry.map((e: any) => e.resource.action)).toEqual(['C', 'C']);
    const cs = (await t.http.get('/fhir/metadata')).body;
    const ae = cs.rest[0].resource.find((r: any) => r.type === 'AuditEvent');
    expect(ae.interaction.map((i: any) => i.code).sort()).toEqual(['read', 'search-type', 'vread']);
    expect(ae.searchParam.map((p: any) => p.name)).toEqual(expect.arrayContaining(['date', 'agent', 'entity', 'patient', 'type', 'subtype', 'action', 'outcome']));
  });

  it('the other compartments (R4 CompartmentDefinitions): Practitioner and Device hold the events of their agent, Encounter and RelatedPerson none', async () => {
    // compartmentdefinition-practitioner / -device: AuditEvent by `agent`; the trail's agent is the user (fhirUser)
    const byAgent = await search('agent=Practitioner/dr-smith');
    expect(byAgent.length).toBeGreaterThan(0);
    const comp = await t.http.get('/fhir/Practitioner/dr-smith/AuditEvent?_count=1000');
    expect(comp.status).toBe(200);
    expect(comp.body.entry.map((e: any) => e.resource.id).sort()).toEqual(byAgent.map((e) => e.id).sort());
    expect(comp.body.link[0].url).toBe(`${t.baseUrl}/Practitioner/dr-smith/AuditEvent?_count=1000`);
    expect((await t.http.get('/fhir/Practitioner/someone-else/AuditEvent')).body.entry ?? []).toEqual([]);
    expect((await t.http.get('/fhir/Device/dr-smith/AuditEvent')).body.entry ?? []).toEqual([]);
    // AuditEvent is not in the Encounter or RelatedPerson compartment: an empty searchset, not an error
    for (const c of ['Encounter', 'RelatedPerson']) {
      const none = await t.http.get(`/fhir/${c}/x/AuditEvent`);
      expect({ c, status: none.status, entries: none.body.entry ?? [] }).toEqual({ c, status: 200, entries: [] });
    }
    expect((await t.http.get('/fhir/Observation/x/AuditEvent')).status).toBe(400);
    expect((await t.http.get('/fhir/Nothing/x/AuditEvent')).status).toBe(404);
    // and as a batch entry, the same answer
    const batch = await t.http
      .post('/fhir')
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Practitioner/dr-smith/AuditEvent?_count=1000' } }] });
    expect(batch.body.entry[0].resource.entry.map((e: any) => e.resource.id).sort()).toEqual(byAgent.map((e) => e.id).sort());
  });
});

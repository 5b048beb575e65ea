import type { Observation } from 'fhir/r4';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { loadBundles, smallestBundles, syntheaAvailable } from '../export/synthea';

const HEART_RATE = { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] };
const SPO2 = { coding: [{ system: 'http://loinc.org', code: '59408-5', display: 'SpO2' }] };
const VITALS = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }];

// R4 observation-operation-lastn.html (Observation/$lastn)
describe('Observation/$lastn', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const obs = (patient: string, code: object, minute: number, value: number): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    category: VITALS as any,
    code: code as any,
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: new Date(Date.UTC(2024, 0, 1, 8, minute)).toISOString(),
    valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  });

  it('device readings: the latest `max` per code, newest first, only the patient asked for', async () => {
    const p = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Monitored' }] })).body.id;
    const other = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Other' }] })).body.id;
    // posted out of time order: the server must order by effective time, not by arrival
    for (const m of [5, 1, 9, 3, 7]) await t.http.post('/fhir/Observation').send(obs(p, HEART_RATE, m, 60 + m));
    for (const m of [2, 8]) await t.http.post('/fhir/Observation').send(obs(p, SPO2, m, 90 + m));
    await t.http.post('/fhir/Observation').send(obs(other, HEART_RATE, 30, 99));

    const r = await t.http.get(`/fhir/Observation/$lastn?patient=${p}&category=vital-signs&max=2`);
    expect(r.status).toBe(200);
    expect(r.body.type).toBe('searchset');
    const values = (code: string) =>
      r.body.entry.filter((e: any) => e.resource.code.coding[0].code === code).map((e: any) => e.resource.valueQuantity.value);
    expect(values('8867-4')).toEqual([69, 67]);
    expect(values('59408-5')).toEqual([98, 92]);
    expect(r.body.total).toBe(4);

    const one = await t.http.get(`/fhir/Observation/$lastn?patient=Patient/${p}&code=http://loinc.org|8867-4`);
    expect(one.body.entry.map((e: any) => e.resource.valueQuantity.value)).toEqual([69]);
  });

  it('needs a patient; max must be a positive integer (400)', async () => {
    expect((await t.http.get('/fhir/Observation/$lastn?category=vital-signs')).status).toBe(400);
    expect((await t.http.get('/fhir/Observation/$lastn?patient=x&max=0')).status).toBe(400);
  });

  (syntheaAvailable() ? it : it.skip)('Synthea vital signs: equals the latest per code computed from the bundle', async () => {
    const [bundle] = smallestBundles(1);
    const [ids] = await loadBundles(t, [bundle]);
    const patient = ids.get(bundle.entry!.find((e) => e.resource!.resourceType === 'Patient')!.fullUrl!)!.split('/')[1];
    const vitals = bundle
      .entry!.filter((e) => e.resource!.resourceType === 'Observation')
      .filter((e) => (e.resource as Observation).category?.some((c) => c.coding?.some((x) => x.code === 'vital-signs')));
    const byCode = new Map<string, { time: string; id: string }[]>();
    for (const e of vitals) {
      const o = e.resource as Observation;
      const key = `${o.code.coding![0].system}|${o.code.coding![0].code}`;
      byCode.set(key, [...(byCode.get(key) ?? []), { time: new Date(o.effectiveDateTime!).toISOString(), id: ids.get(e.fullUrl!)!.split('/')[1] }]);
    }
    // the oracle keeps every Observation at the latest time (ties are broken by id on the server)
    const r = await t.http.get(`/fhir/Observation/$lastn?patient=${patient}&category=vital-signs`);
    expect(r.body.total).toBe(byCode.size);
    for (const e of r.body.entry) {
      const o = e.resource as Observation;
      const group = byCode.get(`${o.code.coding![0].system}|${o.code.coding![0].code}`)!;
      const latest = group.map((g) => g.time).sort().pop();
      expect(new Date(o.effectiveDateTime!).toISOString()).toBe(latest);
      expect(group.some((g) => g.id === o.id)).toBe(true);
    }
  });
});

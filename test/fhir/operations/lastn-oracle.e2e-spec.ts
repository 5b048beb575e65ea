import type { Observation } from 'fhir/r4';
import { startTestApp, TestApp } from '../../helpers/test-app';
import {
  firstBundleFiles,
  groupOf,
  groupsBySize,
  hasCategory,
  hasCode,
  lastN,
  LoadedObs,
  LoadedPatient,
  loadPatient,
  SMART_DIR,
  timeOf,
} from './lastn-oracle';

/**
 * Oracle check of Observation/$lastn (R4 observation-operation-lastn.html: "the most recent or last
 * n=number of observations for a subject", grouped by code, most recent first, at most `max` per
 * group) against real Synthea patients. Every expected answer is computed here from the fixture and
 * the ids the server assigned (transaction-response locations); see ./lastn-oracle.ts.
 */
const PATIENTS = 3;
const FILES = firstBundleFiles(PATIENTS);
const present = FILES.length === PATIENTS;
if (!present) {
  // eslint-disable-next-line no-console
  console.log(`lastn-oracle: skipped, ${PATIENTS} Synthea bundles not found in ${SMART_DIR}`);
}

const SPEC = 'observation-operation-lastn.html';

(present ? describe : describe.skip)('Observation/$lastn oracle on Synthea (R4 observation-operation-lastn.html)', () => {
  let t: TestApp;
  const loaded: LoadedPatient[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    for (const f of FILES) loaded.push(await loadPatient(t, f));
  });
  afterAll(async () => t?.close());

  /** POST inputs: a Parameters resource (JSON) or a form (string); GET when absent. */
  type Body = object | string | undefined;

  /** $lastn (GET, or POST with `body`); returns the served groups (ids in Bundle order), after the checks every answer shares. */
  async function served(query: string, patientId: string, body?: Body): Promise<Map<string, string[]>> {
    const url = `/fhir/Observation/$lastn${query ? `?${query}` : ''}`;
    const r =
      body === undefined
        ? await t.http.get(url)
        : typeof body === 'string'
          ? await t.http.post(url).type('form').send(body)
          : await t.http.post(url).set('Content-Type', 'application/fhir+json').send(body);
    expect({ query, status: r.status }).toEqual({ query, status: 200 });
    expect(r.body.resourceType).toBe('Bundle');
    expect(r.body.type).toBe('searchset');
    const entries = (r.body.entry ?? []) as { fullUrl: string; resource: Observation; search?: { mode?: string } }[];
    const groups = new Map<string, string[]>();
    for (const e of entries) {
      expect(e.resource.resourceType).toBe('Observation');
      // no Observation of another patient
      expect({ id: e.resource.id, subject: e.resource.subject?.reference }).toEqual({ id: e.resource.id, subject: `Patient/${patientId}` });
      expect(e.fullUrl.endsWith(`/Observation/${e.resource.id}`)).toBe(true);
      expect(e.search?.mode).toBe('match');
      const k = groupOf(e.resource);
      groups.set(k, [...(groups.get(k) ?? []), e.resource.id!]);
    }
    const ids = entries.map((e) => e.resource.id);
    expect(new Set(ids).size).toBe(ids.length);
    if (r.body.total !== undefined) expect(r.body.total).toBe(entries.length);
    return groups;
  }

  /** Served groups equal the oracle's: same groups, same ids, each group newest first (README: "newest first"). */
  async function expectLastN(query: string, p: LoadedPatient, candidates: LoadedObs[], max: number, body?: Body): Promise<Map<string, string[]>> {
    const expected = lastN(candidates, max);
    const got = await served(query, p.patientId, body);
    const sorted = (m: Map<string, string[]>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    expect({ query, body, groups: sorted(got) }).toEqual({ query, body, groups: sorted(expected) });
    return expected;
  }

  const patient = (i: number) => loaded[i];
  const byCategory = (p: LoadedPatient, cat: string) => p.observations.filter((o) => hasCategory(o.resource, cat));

  describe.each(FILES.map((f, i) => [f.replace(/_[0-9a-f-]+\.json\.gz$/, ''), i] as const))('patient %s', (_name, i) => {
    it(`${SPEC} § max (0..1, default 1) with category=vital-signs / laboratory: the latest Observation per code`, async () => {
      const p = patient(i);
      for (const cat of ['vital-signs', 'laboratory']) {
        const candidates = byCategory(p, cat);
        const expected = await expectLastN(`patient=${p.patientId}&category=${cat}`, p, candidates, 1);
        // every code of the category is there, once
        expect(expected.size).toBe(new Set(candidates.map((o) => groupOf(o.resource))).size);
      }
    });

    it(`${SPEC} § max = 3 ("the last 3 results for all vitals"): at most 3 per code, newest first`, async () => {
      const p = patient(i);
      for (const cat of ['vital-signs', 'laboratory']) {
        await expectLastN(`patient=${p.patientId}&category=${cat}&max=3`, p, byCategory(p, cat), 3);
      }
    });

    it(`${SPEC} § grouped by code: with only the subject (README: patient or subject required), max 1 and 3 over every code`, async () => {
      const p = patient(i);
      await expectLastN(`patient=${p.patientId}`, p, p.observations, 1);
      await expectLastN(`patient=${p.patientId}&max=3`, p, p.observations, 3);
    });

    it(`${SPEC} § max larger than every group: every Observation of the patient, each group newest first`, async () => {
      const p = patient(i);
      const largest = groupsBySize(p.observations)[0].size;
      const expected = await expectLastN(`patient=${p.patientId}&max=${largest + 1}`, p, p.observations, largest + 1);
      expect([...expected.values()].flat().length).toBe(p.observations.length);
    });

    it(`${SPEC} § code: the code parameter (two system|code values, OR) restricts the groups`, async () => {
      const p = patient(i);
      // the two largest groups of this patient, so that max=2 has something to cut
      const [a, b] = groupsBySize(p.observations).filter((g) => !g.key.startsWith('text:'));
      const codes = [a, b].map((g) => {
        const bar = g.key.indexOf('|');
        return { system: g.key.slice(0, bar), code: g.key.slice(bar + 1) };
      });
      const candidates = p.observations.filter((o) => codes.some((c) => hasCode(o.resource, c.system, c.code)));
      const param = codes.map((c) => encodeURIComponent(`${c.system}|${c.code}`)).join(',');
      const expected = await expectLastN(`patient=${p.patientId}&code=${param}&max=2`, p, candidates, 2);
      expect([...expected.keys()].sort()).toEqual([a.key, b.key].sort());
      // one code alone, with the default max
      await expectLastN(`patient=${p.patientId}&code=${encodeURIComponent(a.key)}`, p, candidates.filter((o) => groupOf(o.resource) === a.key), 1);
    });

    it(`${SPEC} § "If there are no matches, the query SHALL return an empty search set with no error"`, async () => {
      const p = patient(i);
      const own = new Set(p.observations.map((o) => groupOf(o.resource)));
      // a code another loaded patient has and this one has not (else one no patient has)
      const foreign = loaded.flatMap((q) => q.observations.map((o) => groupOf(o.resource))).find((k) => !own.has(k) && !k.startsWith('text:'));
      const key = foreign ?? 'urn:lastn-oracle|absent';
      const got = await served(`patient=${p.patientId}&code=${encodeURIComponent(key)}&max=3`, p.patientId);
      expect(got.size).toBe(0);
    });

    it(`${SPEC} § "other Observation search parameters": date=ge… narrows the candidates before grouping`, async () => {
      const p = patient(i);
      // the median distinct effective time of this patient: drops the older half of the record
      const times = [...new Set(p.observations.map((o) => timeOf(o.resource)))].sort((x, y) => x - y);
      const cut = times[Math.floor(times.length / 2)];
      const iso = new Date(cut).toISOString().replace(/\.000Z$/, 'Z');
      const candidates = p.observations.filter((o) => timeOf(o.resource) >= cut);
      expect(candidates.length).toBeLessThan(p.observations.length);
      const expected = await expectLastN(`patient=${p.patientId}&date=${encodeURIComponent(`ge${iso}`)}&max=2`, p, candidates, 2);
      // codes measured only before the cut are gone (when the record has any)
      const before = new Set(p.observations.filter((o) => timeOf(o.resource) < cut).map((o) => groupOf(o.resource)));
      for (const k of before) if (!candidates.some((o) => groupOf(o.resource) === k)) expect(expected.has(k)).toBe(false);
      // with a category too
      await expectLastN(
        `patient=${p.patientId}&category=laboratory&date=${encodeURIComponent(`ge${iso}`)}`,
        p,
        candidates.filter((o) => hasCategory(o.resource, 'laboratory')),
        1,
      );
    });

    it(`${SPEC} § "a subject using either the patient or subject search parameter": patient=id, patient=Patient/id, subject=Patient/id agree`, async () => {
      const p = patient(i);
      const candidates = byCategory(p, 'vital-signs');
      for (const q of [`patient=${p.patientId}`, `patient=Patient/${p.patientId}`, `subject=Patient/${p.patientId}`]) {
        await expectLastN(`${q}&category=vital-signs&max=2`, p, candidates, 2);
      }
    });

    it(`operations.html (invoking by POST) × ${SPEC}: inputs in a Parameters body or a form count like the URL's`, async () => {
      const p = patient(i);
      const labs = byCategory(p, 'laboratory');
      // everything in a Parameters resource; the subject as a string and as a Reference
      const params = (subject: object) => ({
        resourceType: 'Parameters',
        parameter: [{ name: 'patient', ...subject }, { name: 'category', valueString: 'laboratory' }, { name: 'max', valuePositiveInt: 3 }],
      });
      await expectLastN('', p, labs, 3, params({ valueString: p.patientId }));
      await expectLastN('', p, labs, 3, params({ valueReference: { reference: `Patient/${p.patientId}` } }));
      // the subject in the URL, category and max in the body: neither may be dropped (that widened the answer)
      await expectLastN(`patient=${p.patientId}`, p, labs, 3, { resourceType: 'Parameters', parameter: [{ name: 'category', valueCode: 'laboratory' }, { name: 'max', valueInteger: 3 }] });
      await expectLastN(`patient=${p.patientId}`, p, labs, 3, 'category=laboratory&max=3');
      await expectLastN('', p, byCategory(p, 'vital-signs'), 2, `subject=Patient/${p.patientId}&category=vital-signs&max=2`);
    });
  });

  it(`operations.html × ${SPEC}: a POSTed body without a subject, with max=0, or not a Parameters resource → 400`, async () => {
    const p = patient(0);
    const bodies: Body[] = [
      { resourceType: 'Parameters', parameter: [{ name: 'category', valueString: 'vital-signs' }] },
      { resourceType: 'Parameters', parameter: [{ name: 'patient', valueString: p.patientId }, { name: 'max', valueInteger: 0 }] },
      { resourceType: 'Patient' },
      'category=vital-signs',
    ];
    for (const body of bodies) {
      const r = typeof body === 'string'
        ? await t.http.post('/fhir/Observation/$lastn').type('form').send(body)
        : await t.http.post('/fhir/Observation/$lastn').set('Content-Type', 'application/fhir+json').send(body);
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
      expect(r.body.resourceType).toBe('OperationOutcome');
    }
  });

  it(`${SPEC} § request SHALL include a subject (patient or subject): without one → 400 OperationOutcome (README)`, async () => {
    for (const q of ['category=vital-signs', 'category=vital-signs&max=2', `code=${encodeURIComponent('http://loinc.org|8302-2')}`]) {
      const r = await t.http.get(`/fhir/Observation/$lastn?${q}`);
      expect({ q, status: r.status }).toEqual({ q, status: 400 });
      expect(r.body.resourceType).toBe('OperationOutcome');
    }
  });

  it(`${SPEC} § max is a positiveInt: max=0, max=abc, max=-1, max=1.5 → 400 OperationOutcome`, async () => {
    const p = patient(0);
    for (const max of ['0', 'abc', '-1', '1.5']) {
      const r = await t.http.get(`/fhir/Observation/$lastn?patient=${p.patientId}&category=vital-signs&max=${max}`);
      expect({ max, status: r.status }).toEqual({ max, status: 400 });
      expect(r.body.resourceType).toBe('OperationOutcome');
    }
  });
});

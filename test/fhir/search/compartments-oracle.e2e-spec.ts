import * as fs from 'fs';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { EXAMPLES, pool } from './r4-examples-sweep-values';
import { syntheaPresent } from './synthea-fixtures';
import { compartmentFocals, compartmentOf, everyPage as everyPageOf, keyDiff, storeCompartmentUniverse } from './compartments';

/**
 * Oracle test of the R4 compartments other than Patient (compartmentdefinition.html,
 * search.html#compartments): `GET Encounter/[id]/[type]`, `Practitioner/[id]/*`, `RelatedPerson/…`,
 * `Device/…`, on the R4 spec examples and on Synthea patients (whose Encounters and Practitioners are
 * the records' own).
 *
 * The oracle is computed here, independently of the server's code: each official R4
 * CompartmentDefinition (definitions/r4/) gives, per resource type, the search parameters linking a
 * resource to the focal resource; a resource is in the compartment of F when the FHIRPath expression of
 * one of those parameters (R4 SearchParameters, evaluated with the `fhirpath` package) yields a literal
 * reference to F (relative, versioned, or under the server's base: references.html#literal). `{def}`
 * puts F itself in its own compartment (Encounter, Practitioner, RelatedPerson; not Device).
 *
 * The universe is exactly what this test stored in its own fresh schema. AuditEvent is left out: the
 * server's audit trail is its own store, answered per compartment by the audit tests.
 */
const COMPARTMENTS = ['Encounter', 'Practitioner', 'RelatedPerson', 'Device'];
const AUDIT = 'AuditEvent';

const present = syntheaPresent() && fs.existsSync(EXAMPLES);
if (!present) console.warn('skipping the compartments oracle: ../shared/fixtures (synthea and r4-examples) not found');

(present ? describe : describe.skip)('Encounter, Practitioner, RelatedPerson and Device compartments oracle (compartmentdefinition.html)', () => {
  let t: TestApp;
  const universe = new Map<string, any>();
  const key = (r: any) => `${r.resourceType}/${r.id}`;
  const definitions = new Map(COMPARTMENTS.map((c) => [c, compartmentOf(c)]));

  /** the oracle: the members of F's compartment of one type, as sorted `Type/id` */
  const oracle = (compartment: string, focal: string, type: string): string[] => {
    const def = definitions.get(compartment)!;
    return [...universe.values()]
      .filter(
        (r) =>
          r.resourceType === type &&
          (compartmentFocals(def.params, compartment, r, t.baseUrl).has(focal) || (def.itself && type === compartment && r.id === focal)),
      )
      .map(key)
      .sort();
  };
  const memberTypes = (compartment: string): string[] => {
    const def = definitions.get(compartment)!;
    return [...new Set([...def.params.keys(), ...(def.itself ? [compartment] : [])])].filter((type) => type !== AUDIT).sort();
  };
  const focalsOf = (compartment: string) => [...universe.values()].filter((r) => r.resourceType === compartment).map((r) => r.id as string);

  /** the `Type/id` of the matches of every page */
  const everyPage = async (path: string): Promise<string[]> =>
    (await everyPageOf(t, path))
      .filter((e) => e.search?.mode === 'match')
      .map((e) => key(e.resource))
      .sort();
  const diff = keyDiff;

  beforeAll(async () => {
    t = await startTestApp();
    for (const [k, r] of (await storeCompartmentUniverse(t)).universe) universe.set(k, r);
  }, 300_000);
  afterAll(async () => t?.close());

  it('the oracle is not vacuous: every compartment has focal resources with members of several types', () => {
    for (const compartment of COMPARTMENTS) {
      const focals = focalsOf(compartment);
      expect(focals.length).toBeGreaterThan(0);
      const types = new Set(focals.flatMap((f) => memberTypes(compartment).filter((type) => type !== compartment && oracle(compartment, f, type).length)));
      expect({ compartment, types: types.size > (compartment === 'Device' ? 0 : 2) }).toEqual({ compartment, types: true });
    }
    // the Synthea records: each Encounter's compartment holds its Observations
    const synthea = focalsOf('Encounter').filter((id) => oracle('Encounter', id, 'Observation').length > 0);
    expect(synthea.length).toBeGreaterThan(3);
  });

  it('search.html#compartments: GET [compartment]/[id]/[type] (every page) equals the CompartmentDefinition oracle, for every member type', async () => {
    const disagreements: string[] = [];
    const cases = COMPARTMENTS.flatMap((c) => focalsOf(c).flatMap((f) => memberTypes(c).map((type) => ({ c, f, type }))));
    expect(cases.length).toBeGreaterThan(500);
    let nonEmpty = 0;
    await pool(cases, 8, async ({ c, f, type }) => {
      const expected = oracle(c, f, type);
      if (expected.length) nonEmpty++;
      const d = diff(expected, await everyPage(`${c}/${f}/${type}?_count=50`));
      if (d.missing.length || d.extra.length) disagreements.push(`${c}/${f}/${type}: ${JSON.stringify(d)}`);
    });
    expect(disagreements).toEqual([]);
    expect(nonEmpty).toBeGreaterThan(50);
  }, 300_000);

  it('search.html#compartments: GET [compartment]/[id]/* (every page) is the whole compartment; _type narrows it', async () => {
    const disagreements: string[] = [];
    const cases = COMPARTMENTS.flatMap((c) => focalsOf(c).map((f) => ({ c, f })));
    await pool(cases, 4, async ({ c, f }) => {
      const whole = memberTypes(c).flatMap((type) => oracle(c, f, type)).sort();
      const d = diff(whole, await everyPage(`${c}/${f}/*?_count=100`));
      if (d.missing.length || d.extra.length) disagreements.push(`${c}/${f}/*: ${JSON.stringify(d)}`);
      const some = memberTypes(c).filter((type) => ['Observation', 'Encounter', c].includes(type));
      const narrowed = some.flatMap((type) => oracle(c, f, type)).sort();
      const dn = diff(narrowed, await everyPage(`${c}/${f}/*?_type=${some.join(',')}&_count=100`));
      if (dn.missing.length || dn.extra.length) disagreements.push(`${c}/${f}/*?_type=${some.join(',')}: ${JSON.stringify(dn)}`);
    });
    expect(disagreements).toEqual([]);
  }, 300_000);

  it('search.html#sort: _sort=-_lastUpdated over a compartment pages through it newest first (ties by type and id), no gaps or repeats', async () => {
    const disagreements: string[] = [];
    const largest = (c: string) =>
      focalsOf(c)
        .map((f) => ({ f, n: memberTypes(c).flatMap((type) => oracle(c, f, type)).length }))
        .sort((a, b) => b.n - a.n)
        .slice(0, 3);
    let paged = 0;
    for (const c of ['Encounter', 'Practitioner']) {
      for (const { f, n } of largest(c)) {
        const entries = await everyPageOf(t, `${c}/${f}/*?_sort=-_lastUpdated&_count=7`);
        if (n > 7) paged++;
        const got = entries.map((e) => ({ k: key(e.resource), at: e.resource.meta.lastUpdated as string }));
        const expected = memberTypes(c).flatMap((type) => oracle(c, f, type)).sort();
        const d = diff(expected, got.map((g) => g.k).sort());
        if (d.missing.length || d.extra.length || new Set(got.map((g) => g.k)).size !== got.length) disagreements.push(`${c}/${f}: ${JSON.stringify(d)}`);
        const order = [...got].sort((a, b) => (a.at === b.at ? (a.k < b.k ? -1 : 1) : a.at < b.at ? 1 : -1));
        if (JSON.stringify(order) !== JSON.stringify(got)) disagreements.push(`${c}/${f}: not newest first`);
      }
    }
    expect(disagreements).toEqual([]);
    expect(paged).toBeGreaterThan(1);
  });

  it('search.html#compartments: criteria apply within the compartment (Encounter/[id]/Observation?code=…)', async () => {
    const encounter = focalsOf('Encounter').find((id) => new Set(oracle('Encounter', id, 'Observation').map((k) => universe.get(k).code?.coding?.[0]?.code)).size > 1)!;
    expect(encounter).toBeDefined();
    const members = oracle('Encounter', encounter, 'Observation').map((k) => universe.get(k));
    const code = members[0].code.coding[0];
    const expected = members.filter((o) => o.code?.coding?.some((x: any) => x.system === code.system && x.code === code.code)).map(key).sort();
    expect(expected.length).toBeLessThan(members.length);
    expect(await everyPage(`Encounter/${encounter}/Observation?code=${encodeURIComponent(`${code.system}|${code.code}`)}`)).toEqual(expected);
  });

  it('compartmentdefinition.html: a resource naming the focal resource through a parameter the definition does not list is outside', async () => {
    const practitioner = focalsOf('Practitioner')[0];
    // Observation.performer is the Practitioner compartment's parameter; Observation.focus (param `focus`) is not
    const made = await t.http
      .post('/fhir/Observation')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, focus: [{ reference: `Practitioner/${practitioner}` }] });
    expect(made.status).toBe(201);
    expect(await everyPage(`Practitioner/${practitioner}/Observation`)).not.toContain(`Observation/${made.body.id}`);
    const performed = await t.http
      .post('/fhir/Observation')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, performer: [{ reference: `${t.baseUrl}/Practitioner/${practitioner}` }] });
    expect(await everyPage(`Practitioner/${practitioner}/Observation`)).toContain(`Observation/${performed.body.id}`);
  });

  it('the Device compartment does not hold the Device itself (no {def} in its definition); the others do', async () => {
    const device = focalsOf('Device')[0];
    expect(await everyPage(`Device/${device}/*`)).not.toContain(`Device/${device}`);
    const practitioner = focalsOf('Practitioner')[0];
    expect(await everyPage(`Practitioner/${practitioner}/Practitioner`)).toEqual([`Practitioner/${practitioner}`]);
  });

  it('a type that has no compartment is 400 not-supported; the CapabilityStatement lists the five R4 compartments', async () => {
    const res = await t.http.get('/fhir/Observation/x/Patient');
    expect(res.status).toBe(400);
    expect(res.body.issue[0].code).toBe('not-supported');
    const cs = await t.http.get('/fhir/metadata');
    expect([...cs.body.rest[0].compartment].sort()).toEqual(
      ['device', 'encounter', 'patient', 'practitioner', 'relatedPerson'].map((c) => `http://hl7.org/fhir/CompartmentDefinition/${c}`),
    );
  });
});

import type { Resource, SearchParameter } from 'fhir/r4';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { ids } from './search-helpers';
import { evaluate, searchValue, tokenKeys, usCoreExamples, usCorePresent, usCoreSearchParameters } from './us-core-fixtures';

/**
 * A production deployment adds the US Core 6.1.0 SearchParameters (the IG's own published files,
 * ../shared/fixtures/us-core/6.1.0) and uses them: POST each one, store the IG's examples, run
 * `$reindex` as an admin would, then search. The expected answers are computed here with the
 * `fhirpath` engine over the example files, none of the server's code.
 *
 * - searchparameter.html: a SearchParameter with `derivedFrom` has the meaning of the one it is derived
 *   from; one of the same code on the same base type takes its place for that type (a type has one
 *   parameter per name: capabilitystatement.html, rest.resource.searchParam.name).
 * - search.html#token, #date, #string, #reference: the values searched.
 * - capabilitystatement.html (rest.resource.searchParam.definition: "SHALL be populated if the search
 *   parameter refers to a SearchParameter defined by ... externally defined IGs").
 * - US Core 6.1.0 (search-parameters-and-operations / CapabilityStatement us-core-server): race,
 *   ethnicity, gender-identity (Patient), asserted-date (Condition), discharge-disposition (Encounter),
 *   role (CareTeam), description (Goal) are defined by the IG itself.
 */
const present = usCorePresent();
(present ? describe : describe.skip)('US Core 6.1.0 SearchParameters, added to a running server', () => {
  let t: TestApp;
  const params = present ? usCoreSearchParameters() : [];
  const examples = present ? usCoreExamples() : [];
  /** parameters the IG defines itself: no `derivedFrom` a base R4 one */
  const igOwn = params.filter((sp) => !sp.derivedFrom);
  /** R4 parameter names per type, as /metadata listed them before any US Core parameter */
  const baseNames = new Map<string, Set<string>>();
  /** parameter names per type and their definition, as /metadata listed them after the reindex */
  const afterReindex = new Map<string, Map<string, { definition: string; type: string }>>();
  const stored: Resource[] = [];
  const refused: { example: string; status: number; reason: string }[] = [];
  const postStatus = new Map<string, number>();
  let reindex: Record<string, number> = {};

  const metadata = async () => {
    const cs = (await t.http.get('/fhir/metadata')).body;
    return cs.rest[0].resource as { type: string; searchParam: { name: string; definition?: string; type: string }[] }[];
  };

  beforeAll(async () => {
    t = await startTestApp();
    for (const r of await metadata()) baseNames.set(r.type, new Set(r.searchParam.map((p) => p.name)));
    for (const sp of params) {
      const { id: _id, ...body } = sp; // POST: the server assigns the id
      const res = await t.http.post('/fhir/SearchParameter').set('Content-Type', FHIR_JSON).send(body);
      postStatus.set(sp.url, res.status);
    }
    for (const r of examples) {
      const res = await t.http.put(`/fhir/${r.resourceType}/${r.id}`).set('Content-Type', FHIR_JSON).send(r);
      if (res.status === 200 || res.status === 201) stored.push(r);
      else refused.push({ example: `${r.resourceType}/${r.id}`, status: res.status, reason: (res.body?.issue ?? []).map((i: any) => i.diagnostics).join('; ').slice(0, 300) });
    }
    if (refused.length) console.log(`US Core examples refused (${refused.length} of ${examples.length}):\n${refused.map((x) => `  ${x.example} ${x.status}: ${x.reason}`).join('\n')}`);
    const res = await t.http.post('/fhir/$reindex').set('Content-Type', FHIR_JSON).send({ resourceType: 'Parameters', parameter: [] });
    if (res.status !== 200) throw new Error(`$reindex answered ${res.status}: ${JSON.stringify(res.body).slice(0, 400)}`);
    reindex = Object.fromEntries(res.body.parameter.map((p: any) => [p.name, p.valueInteger ?? p.valueDecimal]));
    for (const r of await metadata()) afterReindex.set(r.type, new Map(r.searchParam.map((p) => [p.name, { definition: p.definition ?? '', type: p.type }])));
  });
  afterAll(async () => {
    await t?.close();
  });

  /** `_id` is the server's own (search.html#all, answered from the resource itself), not a definition to replace */
  const accepted = () => params.filter((sp) => sp.code !== '_id');

  it('stores every SearchParameter, and the reindex puts all but the `_id` redefinitions in force', () => {
    expect([...postStatus.values()].filter((s) => s !== 201)).toEqual([]);
    expect(params.length).toBe(106);
    expect(params.filter((sp) => sp.code === '_id').map((sp) => sp.derivedFrom)).toEqual(params.filter((sp) => sp.code === '_id').map(() => 'http://hl7.org/fhir/SearchParameter/Resource-id'));
    expect(reindex.customParameters).toBe(accepted().length);
    expect(reindex.resources).toBeGreaterThanOrEqual(stored.length + params.length);
  });

  it('`_id` still answers for the types US Core redefined it on', async () => {
    for (const sp of params.filter((p) => p.code === '_id')) {
      const example = stored.find((r) => r.resourceType === sp.base[0]);
      if (example) expect(await ids(t, `${sp.base[0]}?_id=${example.id}`)).toEqual([example.id]);
    }
  });

  it('the parameters without derivedFrom are exactly those whose code is new on their base type', () => {
    const isNew = (sp: SearchParameter) => sp.base.every((b) => !baseNames.get(b)?.has(sp.code));
    expect(params.filter(isNew).map((sp) => sp.id)).toEqual(igOwn.map((sp) => sp.id));
    expect(igOwn.map((sp) => sp.code).sort()).toEqual(['asserted-date', 'description', 'discharge-disposition', 'ethnicity', 'gender-identity', 'race', 'role']);
  });

  it('stores the IG examples (the refused ones are counted and named above)', () => {
    expect(stored.length + refused.length).toBe(examples.length);
    expect(refused).toEqual([]);
  });

  /** Stored examples of a type, with the values the expression selects in each. */
  const selected = (sp: SearchParameter, type: string) => stored.filter((r) => r.resourceType === type).map((r) => ({ id: r.id!, values: evaluate(r, sp.expression!) }));

  /** Whether a selected value matches a search value, for the parameter types of the IG's own parameters. */
  const matches = (type: string, v: any, value: string) =>
    type === 'token' ? tokenKeys(v).includes(value) : type === 'date' ? typeof v === 'string' && v.startsWith(value.replace(/^eq/, '')) : false;

  describe.each(igOwn.map((sp) => [sp.id!, sp] as const))('%s', (_id, sp) => {
    it('finds exactly the examples its expression selects, for every value the examples hold', async () => {
      let searched = 0;
      /** searches whose answer leaves out some example of the type (an unrelated one is not found) */
      let narrowing = 0;
      for (const base of sp.base) {
        const candidates = selected(sp, base);
        const values = [...new Set(candidates.flatMap((c) => c.values.map((v) => searchValue(sp.type, v)).filter((x): x is string => !!x)))];
        for (const value of values) {
          const expected = candidates.filter((c) => c.values.some((v) => matches(sp.type, v, value))).map((c) => c.id).sort();
          expect({ value, found: await ids(t, `${base}?${sp.code}=${encodeURIComponent(value)}&_count=1000`) }).toEqual({ value, found: expected });
          searched++;
          if (expected.length < candidates.length) narrowing++;
        }
      }
      expect(searched).toBeGreaterThan(0);
      expect(narrowing).toBeGreaterThan(0);
    });
  });

  const spOf = (id: string) => igOwn.find((sp) => sp.id === id)!;
  /** ids of the stored examples of a type whose values for a parameter satisfy `test` */
  const where = (id: string, type: string, test: (values: any[]) => boolean) =>
    selected(spOf(id), type)
      .filter((c) => test(c.values))
      .map((c) => c.id)
      .sort();
  const subjectOf = (r: any): string | undefined => (r.subject ?? r.patient)?.reference;

  it('they work with :missing, chains, _has and _sort like any other parameter (search.html#missing, #chaining, #has, #sort)', async () => {
    expect(await ids(t, 'Patient?gender-identity:missing=true')).toEqual(where('us-core-patient-gender-identity', 'Patient', (v) => v.length === 0));

    const white = where('us-core-race', 'Patient', (v) => v.includes('2106-3'));
    const observations = stored.filter((r) => r.resourceType === 'Observation' && white.some((p) => subjectOf(r) === `Patient/${p}`)).map((r) => r.id!);
    expect(observations.length).toBeGreaterThan(0);
    expect(await ids(t, 'Observation?patient.race=2106-3&_count=1000')).toEqual(observations.sort());

    const conditions = where('us-core-condition-asserted-date', 'Condition', (v) => v.includes('2016-08-10'));
    const patients = [...new Set(stored.filter((r) => conditions.includes(r.id!) && r.resourceType === 'Condition').map((r) => subjectOf(r)!.replace(/^Patient\//, '')))];
    expect(await ids(t, 'Patient?_has:Condition:patient:asserted-date=2016-08-10')).toEqual(patients.sort());

    // ties by id in code-point order
    const dated = selected(spOf('us-core-condition-asserted-date'), 'Condition').filter((c) => c.values.length);
    const res = await t.http.get('/fhir/Condition?asserted-date:missing=false&_sort=-asserted-date,_id');
    const order = res.body.entry.map((e: any) => e.resource.id);
    const expected = [...dated].sort((a, b) => b.values[0].localeCompare(a.values[0]) || (a.id < b.id ? -1 : 1)).map((c) => c.id);
    expect(order).toEqual(expected);
  });

  it('a code taken from a Coding keeps its system: race, ethnicity and gender-identity by system|code (search.html#token)', async () => {
    for (const id of ['us-core-race', 'us-core-ethnicity', 'us-core-patient-gender-identity']) {
      const sp = spOf(id);
      // the Codings whose `code` the expression selects (`….value.code`, `….value.coding.code`)
      const codings = selected({ ...sp, expression: sp.expression!.replace(/\.code$/, '') }, 'Patient');
      const keys = [...new Set(codings.flatMap((c) => c.values.filter((v) => v.system && v.code).map((v) => `${v.system}|${v.code}`)))];
      expect({ id, keys: keys.length > 0 }).toEqual({ id, keys: true });
      for (const key of keys) {
        const expected = codings.filter((c) => c.values.some((v) => `${v.system}|${v.code}` === key)).map((c) => c.id).sort();
        expect({ key, found: await ids(t, `Patient?${sp.code}=${encodeURIComponent(key)}&_count=1000`) }).toEqual({ key, found: expected });
        const [system, code] = [key.slice(0, key.lastIndexOf('|')), key.slice(key.lastIndexOf('|') + 1)];
        expect(await ids(t, `Patient?${sp.code}=${encodeURIComponent(`${system}-other|${code}`)}&_count=1000`)).toEqual([]);
      }
    }
  });

  it('CodeableConcept text of Goal.description is searchable with :text (search.html#token, modifiers)', async () => {
    const goal = stored.find((r) => r.resourceType === 'Goal' && (r as any).description?.text && !(r as any).description?.coding) as any;
    expect(goal).toBeDefined();
    expect(await ids(t, `Goal?description:text=${encodeURIComponent(goal.description.text)}`)).toContain(goal.id);
  });

  it('each parameter that takes the place of an R4 one finds the example its searched value came from', async () => {
    const misses: string[] = [];
    let searched = 0;
    for (const sp of accepted().filter((p) => p.derivedFrom)) {
      for (const base of sp.base) {
        const source = selected(sp, base).find((c) => c.values.some((v) => searchValue(sp.type, v)));
        if (!source) continue;
        const value = source.values.map((v) => searchValue(sp.type, v)).find(Boolean)!;
        const found = await ids(t, `${base}?${sp.code}=${encodeURIComponent(value)}&_count=1000`);
        searched++;
        if (!found.includes(source.id)) misses.push(`${base}?${sp.code}=${value} (${sp.id}): ${source.id} not in [${found.join(', ')}]`);
      }
    }
    expect(misses).toEqual([]);
    expect(searched).toBeGreaterThan(60);
  });

  it('/metadata lists every parameter in force for its base types, with the US Core definition url', () => {
    const wrong: string[] = [];
    for (const sp of accepted()) {
      for (const base of sp.base) {
        const listed = afterReindex.get(base)?.get(sp.code);
        if (listed?.definition !== sp.url || listed.type !== sp.type) wrong.push(`${base}.${sp.code}: ${JSON.stringify(listed)}`);
      }
    }
    expect(wrong).toEqual([]);
    // `_id` stays the server's own, for every type
    expect(afterReindex.get('Patient')?.get('_id')?.definition).toBe('http://hl7.org/fhir/SearchParameter/Resource-id');
    expect(afterReindex.get('Patient')?.get('race')).toEqual({ definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-race', type: 'token' });
    // a type US Core does not touch keeps the R4 definitions
    expect(afterReindex.get('Flag')?.get('patient')?.definition).toBe('http://hl7.org/fhir/SearchParameter/clinical-patient');
  });
});

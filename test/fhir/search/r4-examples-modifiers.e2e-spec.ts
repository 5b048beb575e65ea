import * as fs from 'fs';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { ABOVE, BELOW, boundValueSets, CONTAINS, EXACT, hasValue, IDENTIFIER, inValueSet, Modifier, NOT, OF_TYPE, TEXT, TYPED_REFERENCE } from './r4-examples-modifier-oracle';
import { evaluate, EXAMPLES, pool, r4ParamsByType, SweepParam, SWEPT_TYPES, storeExamplesByType, Typed } from './r4-examples-sweep-values';

/**
 * The search modifiers (search.html#modifiers) on real data of every resource type: the FHIR R4 spec
 * examples stored as in r4-examples-sweep.e2e-spec.ts, then per type and official SearchParameter a search
 * with a modifier whose whole answer (the schema holds only the examples) must be the set of examples the
 * oracle (r4-examples-modifier-oracle.ts: the parameter's expression evaluated with the `fhirpath` package,
 * matched by the rules of search.html) says match: `:missing` on every parameter, token `:not` `:text`
 * `:of-type` `:in` `:not-in`, string `:exact` `:contains`, reference `:identifier` `:[type]`, uri `:above`
 * `:below`. Each modifier's values come from the examples' own values. Any status but 200 is a failure.
 *
 * `:missing` (search.html#modifiers: "resources that don't have a value for the parameter (which usually
 * equates to not having the relevant element in the resource)"): a value is one some search of the
 * parameter's type can match (search.html#ptypes; holdsValue() in the oracle). Decided for references: a
 * `#id` to a contained resource IS a value (it is a literal reference, references.html#contained, and
 * FHIRPath resolve() finds the resource: `patient:missing=false` when the contained one is a Patient): the
 * server counted such resources missing (MedicationRequest `#med0320`, Claim `#patient-1`…), a contradiction,
 * fixed (`[param]:local` index rows). A Reference holding only a `display` is NOT (no search of a reference
 * parameter reads a display: search.html#reference matches Reference.reference, `:identifier`
 * Reference.identifier), which is the spec's "usually": the element is there without a value.
 */
const present = fs.existsSync(EXAMPLES);
if (!present) console.warn(`skipping the R4 examples modifier searches: ${EXAMPLES} is absent`);

/**
 * Searches known to answer otherwise than the oracle, `Type?query` → why. Each must still fail (the list
 * cannot go stale): fix the server, then remove the entry.
 */
const KNOWN: Record<string, string> = {};

const CONCURRENCY = 8;

interface Check {
  type: string;
  query: string;
  expected: string[];
}

/** per modifier (by parameter type): the oracle and the spec section it follows */
const VALUE_MODIFIERS: [string, Modifier, string][] = [
  ['token', NOT, 'search.html#token: :not, "do not have the value", including those with no value'],
  ['token', TEXT, 'search.html#token: :text, the text/display (CodeableConcept.text, Coding.display, Identifier.type.text)'],
  ['token', OF_TYPE, 'search.html#token: :of-type, an Identifier by its type and value'],
  ['string', EXACT, 'search.html#string: :exact, the whole string, casing and accents included'],
  ['string', CONTAINS, 'search.html#string: :contains, anywhere in the string'],
  ['reference', IDENTIFIER, 'search.html#reference: :identifier, Reference.identifier'],
  ['reference', TYPED_REFERENCE, 'search.html#reference: :[type], the target type as a modifier'],
  ['uri', ABOVE, 'search.html#uri: :above, the URL and those above it'],
  ['uri', BELOW, 'search.html#uri: :below, the URL and those under it'],
];

(present ? describe : describe.skip)('R4 spec examples: search modifiers (search.html#modifiers)', () => {
  let t: TestApp;
  /** the stored examples by type */
  let byType = new Map<string, Record<string, any>[]>();
  const memo = new Map<string, Typed[]>();
  const valuesOf = (p: SweepParam, r: Record<string, any>) => {
    const key = `${r.resourceType}/${r.id} ${p.code}`;
    if (!memo.has(key)) memo.set(key, evaluate(p.expression, r));
    return memo.get(key)!;
  };
  const ran: Record<string, number> = {};

  beforeAll(async () => {
    t = await startTestApp();
    byType = await storeExamplesByType(t, present, CONCURRENCY);
  }, 120_000);
  afterAll(async () => t?.close());

  const idsOf = (rs: Record<string, any>[]) => rs.map((r) => r.id as string).sort();
  const search = async (c: Check) => {
    const res = await t.http.get(`/fhir/${c.type}?${c.query}&_count=1000&_elements=id`);
    const ids = res.status === 200 ? (res.body.entry ?? []).map((e: any) => e.resource.id as string).sort() : [];
    const next = (res.body.link ?? []).some((l: any) => l.relation === 'next');
    return { c, status: res.status, ids, ok: res.status === 200 && !next && JSON.stringify(ids) === JSON.stringify(c.expected) };
  };
  const describeFailure = ({ c, status, ids }: Awaited<ReturnType<typeof search>>) => {
    if (status !== 200) return `${c.type}?${c.query}: ${status}`;
    const list = (xs: string[]) => `[${xs.slice(0, 6).join(' ')}${xs.length > 6 ? ` …${xs.length}` : ''}]`;
    return `${c.type}?${c.query}: missing ${list(c.expected.filter((id) => !ids.includes(id)))} unexpected ${list(ids.filter((id: string) => !c.expected.includes(id)))}`;
  };
  /** Runs the checks: none fails but the KNOWN ones, and those still fail. */
  const verify = async (name: string, checks: Check[]) => {
    ran[name] = checks.length;
    expect(checks.length).toBeGreaterThan(0);
    const outcomes = await pool(checks, CONCURRENCY, search);
    expect(outcomes.filter((o) => !o.ok && !KNOWN[`${o.c.type}?${o.c.query}`]).map(describeFailure)).toEqual([]);
    expect(outcomes.filter((o) => o.ok && KNOWN[`${o.c.type}?${o.c.query}`]).map((o) => `stale KNOWN: ${o.c.type}?${o.c.query}`)).toEqual([]);
    return outcomes;
  };
  const known = new Set<string>();
  const track = (checks: Check[]) => (checks.forEach((c) => known.add(`${c.type}?${c.query}`)), checks);

  it(':missing=true and =false on every parameter of every type (search.html#modifiers: "don\'t have a value for the parameter")', async () => {
    const paramsOf = r4ParamsByType(new Set([...SWEPT_TYPES, 'composite', 'special']));
    const checks: Check[] = [];
    for (const [type, rs] of byType) {
      for (const p of paramsOf(type)) {
        const has = rs.filter((r) => hasValue(p, r));
        checks.push({ type, query: `${p.code}:missing=true`, expected: idsOf(rs.filter((r) => !has.includes(r))) });
        checks.push({ type, query: `${p.code}:missing=false`, expected: idsOf(has) });
      }
    }
    await verify('missing', track(checks));
  });

  describe.each(VALUE_MODIFIERS)('%s :%s', (paramType, modifier) => {
    it(`matches what the oracle says (${VALUE_MODIFIERS.find(([, m]) => m === modifier)![2]})`, async () => {
      const paramsOf = r4ParamsByType(new Set([paramType]));
      const checks = new Map<string, Check>();
      for (const [type, rs] of byType) {
        for (const p of paramsOf(type)) {
          for (const r of rs) {
            const probe = modifier.probe(valuesOf(p, r));
            if (!probe) continue;
            const name = modifier === TYPED_REFERENCE ? probe.raw.split('/')[0] : modifier.name;
            const query = `${p.code}:${name}=${encodeURIComponent(probe.search)}`;
            if (!checks.has(query + type)) checks.set(query + type, { type, query, expected: idsOf(rs.filter((x) => modifier.matches(valuesOf(p, x), probe.raw))) });
          }
        }
      }
      await verify(modifier.name, track([...checks.values()]));
    });
  });

  it(':in and :not-in on the core ValueSet a token parameter is bound to (search.html#token; README "Terminology")', async () => {
    const paramsOf = r4ParamsByType(new Set(['token']));
    const bound = boundValueSets();
    const checks: Check[] = [];
    for (const [type, rs] of byType) {
      for (const p of paramsOf(type)) {
        const vs = bound(type, p);
        if (!vs || !rs.some((r) => valuesOf(p, r).length)) continue;
        const inSet = rs.filter((r) => inValueSet(vs, valuesOf(p, r)));
        checks.push({ type, query: `${p.code}:in=${encodeURIComponent(vs.url)}`, expected: idsOf(inSet) });
        checks.push({ type, query: `${p.code}:not-in=${encodeURIComponent(vs.url)}`, expected: idsOf(rs.filter((r) => !inSet.includes(r))) });
      }
    }
    await verify('in/not-in', track(checks));
  });

  it('every KNOWN entry is a search the file runs', () => {
    console.info(`R4 examples modifier searches: ${Object.entries(ran).map(([m, n]) => `:${m} ${n}`).join(', ')}`);
    expect(Object.keys(KNOWN).filter((k) => !known.has(k))).toEqual([]);
  });
});

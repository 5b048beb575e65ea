import * as fs from 'fs';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { Chain, ChainOracle, Criterion, Has, Leaf, NOT_CHAINED, paramsOf, render } from './chain-oracle';
import { everyPage, keyDiff, storeCompartmentUniverse } from './compartments';
import { EXAMPLES, pool } from './r4-examples-sweep-values';
import { syntheaPresent } from './synthea-fixtures';

/**
 * Oracle test of chained search and reverse chaining (search.html#chaining, search.html#has) on the R4
 * spec examples and the three smallest Synthea patients, stored in the test's own schema.
 *
 * The expectation of each query is computed here, independently of the server's code (chain-oracle.ts):
 * the R4 SearchParameters' FHIRPath expressions evaluated over the stored resources, references followed
 * when they are local (relative, versioned or under the server's base) to a stored resource, and the
 * leaf criterion matched by the spec's rules for its type (token `system|code` or code, `:not`; string a
 * case- and accent-insensitive prefix, `:exact`; date `eq` a day: the value's range within it; `:missing`).
 * The queries are built from the data: each value is the first value of its parameter on an actual target
 * (or source) resource that some resource refers to. Every page of each answer (`_count=50`) is compared
 * with the expectation; all disagreements of a test are reported at once.
 *
 * Known and documented (README "Search"), left out: AuditEvent (its own store) is no chain or `_has`
 * type (400). References to other servers and contained references (`#x`) do not chain: the oracle
 * follows local references only, and the last test stores one of each.
 */
const present = syntheaPresent() && fs.existsSync(EXAMPLES);
if (!present) console.warn('skipping the chaining oracle: ../shared/fixtures (synthea and r4-examples) not found');

/** at most this many queries of each kind (spread evenly over what the data offers) */
const LIMIT = { single: 2500, double: 1000, has: 2500, nested: 500, combined: 4000 };

/** `n` items spread evenly over `items` (deterministic) */
const spread = <T>(items: T[], n: number): T[] => (items.length <= n ? items : Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]));

(present ? describe : describe.skip)('chained search and _has oracle (search.html#chaining, #has)', () => {
  let t: TestApp;
  let o: ChainOracle;
  const stats: Record<string, { queries: number; nonEmpty: number }> = {};

  beforeAll(async () => {
    t = await startTestApp();
    o = new ChainOracle((await storeCompartmentUniverse(t)).universe, t.baseUrl);
  }, 300_000);
  afterAll(async () => t?.close());

  const searchable = (type: string) => !NOT_CHAINED.has(type);
  const types = () => [...o.byType.keys()].filter(searchable).sort();
  /** the reference parameters of a type that refer to some stored resource */
  const refParams = (type: string) => [...paramsOf(type).values()].filter((p) => p.type === 'reference' && o.edges(type, p.code).size > 0).map((p) => p.code);
  /** the stored targets of `type`'s parameter `code`, of target type `u` (declared by the parameter) */
  const targetsOfType = (type: string, code: string, u: string) =>
    [...new Set([...o.edges(type, code).values()].flat())].filter((k) => k.startsWith(`${u}/`) && o.targetsOf(type, code).includes(u)).sort();
  const targetTypes = (type: string, code: string) => [...new Set([...o.edges(type, code).values()].flat().map((k) => k.split('/')[0]))].filter((u) => o.targetsOf(type, code).includes(u)).sort();
  /** the token and string parameters of a type, and a leaf for each from resource `key` (the i-th parameter from the i-th key) */
  const leaves = (keys: string[]): Leaf[] => {
    if (!keys.length) return [];
    const type = keys[0].split('/')[0];
    const codes = [...paramsOf(type).values()].filter((p) => ['token', 'string', 'date'].includes(p.type)).map((p) => p.code).sort();
    return codes.flatMap((q, i) => {
      // the first of the keys (from the i-th on) with a value
      for (let j = 0; j < keys.length; j++) {
        const leaf = o.leafFor(keys[(i + j) % keys.length], q);
        if (leaf) return [leaf];
      }
      return [];
    });
  };
  /**
   * An untyped chain `P.Q` is valid when the target types of P that have Q give Q one parameter type
   * (else the server asks for `:Type`, search.html#chaining).
   */
  const untypedOk = (type: string, c: Chain) => {
    const ts = o.chainTargets(type, c);
    const next = c.inner.kind === 'has' ? undefined : c.inner.code;
    return ts.length > 0 && (next === undefined || new Set(ts.map((u) => paramsOf(u).get(next)!.type)).size === 1);
  };

  /** Compares the server's matches (every page) with the oracle's, for each query. */
  const check = async (kind: string, cases: { type: string; c: Criterion | Criterion[] }[]) => {
    const disagreements: string[] = [];
    const s = (stats[kind] = { queries: cases.length, nonEmpty: 0 });
    let big = 0;
    await pool(cases, 8, async ({ type, c }) => {
      // several criteria: each holds on its own (search.html#combining: `&` is AND, each chain evaluated separately)
      const all = Array.isArray(c) ? c : [c];
      const query = `${type}?${all.map(render).join('&')}&_count=50`;
      const sets = all.map((x) => o.matches(type, x));
      const expected = [...sets[0]].filter((k) => sets.every((set) => set.has(k))).sort();
      if (expected.length) s.nonEmpty++;
      if (expected.length > 50) big++;
      let actual: string[];
      try {
        actual = (await everyPage(t, query))
          .filter((e) => e.search?.mode === 'match')
          .map((e) => (e.resource ? `${e.resource.resourceType}/${e.resource.id}` : `no resource: ${e.fullUrl}`))
          .sort();
      } catch (e) {
        disagreements.push(`${query}: ${(e as Error).message}`);
        return;
      }
      const d = keyDiff(expected, actual);
      if (d.missing.length || d.extra.length) disagreements.push(`${query}: ${JSON.stringify(d)}`);
    });
    console.log(`chain oracle, ${kind}: ${s.queries} queries, ${s.nonEmpty} with matches, ${big} over a page`);
    return disagreements;
  };

  /** the one-level chains the data offers: `P:U.Q=v` for each (T, P, U, Q), and `P.Q=v` where valid */
  const oneLevel = () => {
    const cases: { type: string; c: Chain }[] = [];
    const seen = new Set<string>();
    for (const type of types())
      for (const p of refParams(type))
        for (const u of targetTypes(type, p).filter(searchable))
          for (const leaf of leaves(targetsOfType(type, p, u))) {
            cases.push({ type, c: { kind: 'chain', code: p, target: u, inner: leaf } });
            const untyped: Chain = { kind: 'chain', code: p, inner: leaf };
            const q = `${type}?${render(untyped)}`;
            if (!seen.has(q) && untypedOk(type, untyped)) {
              seen.add(q);
              cases.push({ type, c: untyped });
            }
          }
    return cases;
  };

  it('search.html#chaining: one level, P.Q=v and P:U.Q=v (token, string and date Q), on every page', async () => {
    const disagreements = await check('one level', spread(oneLevel(), LIMIT.single));
    expect(disagreements).toEqual([]);
    expect(stats['one level'].nonEmpty).toBeGreaterThan(300);
  }, 120_000);

  it('search.html#chaining: two levels, P1[:U1].P2[:U2].Q=v, on every page', async () => {
    const cases: { type: string; c: Criterion }[] = [];
    for (const type of types())
      for (const p1 of refParams(type))
        for (const u1 of targetTypes(type, p1).filter(searchable)) {
          const mids = targetsOfType(type, p1, u1);
          for (const p2 of refParams(u1)) {
            // the second hop from the targets of the first
            const ends = [...new Set(mids.flatMap((k) => o.edges(u1, p2).get(k) ?? []))].sort();
            for (const u2 of [...new Set(ends.map((k) => k.split('/')[0]))].filter((u) => searchable(u) && o.targetsOf(u1, p2).includes(u)))
              for (const leaf of leaves(ends.filter((k) => k.startsWith(`${u2}/`))).slice(0, 3)) {
                const inner: Chain = { kind: 'chain', code: p2, target: u2, inner: leaf };
                cases.push({ type, c: { kind: 'chain', code: p1, target: u1, inner } });
                // untyped at both levels when valid, else typed at the first only
                const bare: Chain = { kind: 'chain', code: p2, inner: leaf };
                const outer: Chain = { kind: 'chain', code: p1, inner: bare };
                if (untypedOk(u1, bare) && untypedOk(type, outer)) cases.push({ type, c: outer });
                else if (untypedOk(u1, bare)) cases.push({ type, c: { kind: 'chain', code: p1, target: u1, inner: bare } });
              }
          }
        }
    const disagreements = await check('two levels', spread(cases, LIMIT.double));
    expect(disagreements).toEqual([]);
    expect(stats['two levels'].nonEmpty).toBeGreaterThan(100);
    // the Synthea records' usual shapes are among them
    const queries = cases.map(({ type, c }) => `${type}?${render(c)}`);
    expect(queries.some((q) => q.startsWith('Observation?encounter.subject'))).toBe(true);
    expect(queries.some((q) => q.startsWith('DiagnosticReport?result:Observation.subject:Patient.'))).toBe(true);
  }, 120_000);

  it('search.html#has: _has:T:P:Q=v on the target type, on every page', async () => {
    const cases: { type: string; c: Criterion }[] = [];
    for (const source of types())
      for (const p of refParams(source)) {
        const referring = [...o.edges(source, p).keys()].sort();
        for (const u of targetTypes(source, p).filter(searchable)) {
          const from = referring.filter((k) => o.edges(source, p).get(k)!.some((x) => x.startsWith(`${u}/`)));
          for (const leaf of leaves(from)) cases.push({ type: u, c: { kind: 'has', source, code: p, inner: leaf } });
        }
      }
    const disagreements = await check('_has', spread(cases, LIMIT.has));
    expect(disagreements).toEqual([]);
    expect(stats['_has'].nonEmpty).toBeGreaterThan(150);
  }, 120_000);

  it('search.html#has: nested _has:T1:P1:_has:T2:P2:Q=v, on every page', async () => {
    const cases: { type: string; c: Criterion }[] = [];
    for (const t1 of types())
      for (const p1 of refParams(t1))
        for (const u of targetTypes(t1, p1).filter(searchable)) {
          // T2 resources referring to a T1 that refers to a U
          const middles = new Set([...o.edges(t1, p1)].filter(([, xs]) => xs.some((x) => x.startsWith(`${u}/`))).map(([k]) => k));
          for (const t2 of types())
            for (const p2 of refParams(t2)) {
              if (!o.targetsOf(t2, p2).includes(t1)) continue;
              const from = [...o.edges(t2, p2)].filter(([, xs]) => xs.some((x) => middles.has(x))).map(([k]) => k).sort();
              if (!from.length) continue;
              for (const leaf of leaves(from).slice(0, 2)) {
                const inner: Has = { kind: 'has', source: t2, code: p2, inner: leaf };
                cases.push({ type: u, c: { kind: 'has', source: t1, code: p1, inner } });
              }
            }
        }
    const disagreements = await check('nested _has', spread(cases, LIMIT.nested));
    expect(disagreements).toEqual([]);
    expect(stats['nested _has'].nonEmpty).toBeGreaterThan(20);
  }, 120_000);

  it('search.html#chaining and #combining: a chain with a criterion on the resource itself, ORed values, modifiers in the chain, two chains on one parameter', async () => {
    const cases: { type: string; c: Criterion | Criterion[] }[] = [];
    const typed = oneLevel().filter(({ c }) => c.target);
    typed.forEach(({ type, c }, i) => {
      const leaf = c.inner as Leaf;
      // with a criterion of the resource's own (the chain probed per match instead of anchoring), both orders
      const [m] = [...o.matches(type, c)].sort();
      const own = m ? leaves([m]).filter((l) => l.code !== c.code) : [];
      if (own.length) {
        const l = own[i % own.length];
        cases.push({ type, c: [c, l] }, { type, c: [l, c] });
      }
      // ORed values from two targets (search.html#combining: `,` is OR)
      const targets = targetsOfType(type, c.code, c.target!);
      const other = targets.map((k) => o.leafFor(k, leaf.code)).reverse().find((l) => l && JSON.stringify(l.values) !== JSON.stringify(leaf.values));
      if (other) cases.push({ type, c: { ...c, inner: { ...leaf, values: [...leaf.values, ...other.values] } } });
      // modifiers of the chained parameter (search.html#modifiers): :not, :exact (as given and upper-cased), :missing
      const modified: Leaf[] =
        leaf.type === 'token'
          ? [{ ...leaf, modifier: 'not' }]
          : leaf.type === 'string'
            ? [
                { ...leaf, modifier: 'exact' },
                { ...leaf, modifier: 'exact', values: [{ value: leaf.values[0].value.toUpperCase() }] },
              ]
            : [];
      modified.push({ ...leaf, modifier: 'missing', values: [{ value: i % 2 ? 'true' : 'false' }] });
      for (const inner of modified) cases.push({ type, c: { ...c, inner } });
    });
    // two chains on the same parameter: each finds its own target (search.html#chaining)
    for (const type of types())
      for (const p of refParams(type))
        for (const [src, targets] of o.edges(type, p)) {
          const [a, b] = targets.filter((k) => searchable(k.split('/')[0]) && o.targetsOf(type, p).includes(k.split('/')[0]));
          if (!b) continue;
          const [la, lb] = [leaves([a]), leaves([b])];
          if (!la.length || !lb.length) continue;
          const chainTo = (k: string, l: Leaf): Chain => ({ kind: 'chain', code: p, target: k.split('/')[0], inner: l });
          cases.push({ type, c: [chainTo(a, la[src.length % la.length]), chainTo(b, lb[(src.length + 1) % lb.length])] });
          break;
        }
    const disagreements = await check('combined', spread(cases, LIMIT.combined));
    expect(disagreements).toEqual([]);
    expect(stats['combined'].nonEmpty).toBeGreaterThan(300);
  }, 120_000);

  it('search.html#chaining, #has: references under the base URL and versioned ones chain, another server\'s and contained ones do not; updates and deletes are followed', async () => {
    const send = async (r: any) => {
      const res = r.id
        ? await t.http.put(`/fhir/${r.resourceType}/${r.id}`).set('Content-Type', FHIR_JSON).send(r)
        : await t.http.post(`/fhir/${r.resourceType}`).set('Content-Type', FHIR_JSON).send(r);
      expect([200, 201]).toContain(res.status);
      o.put(res.body);
      return res.body;
    };
    const remove = async (key: string) => {
      expect((await t.http.delete(`/fhir/${key}`)).status).toBeLessThan(300);
      o.remove(key);
    };
    const family = 'Chainoracle';
    const p1 = await send({ resourceType: 'Patient', name: [{ family: `${family}-Ábc`, given: ['Zed'] }], gender: 'other' });
    const p2 = await send({ resourceType: 'Patient', name: [{ family: `${family}-Def` }], gender: 'other' });
    const code = { coding: [{ system: 'http://example.org/chain-oracle', code: 'c1' }] };
    const observation = (more: any) => send({ resourceType: 'Observation', status: 'final', code, ...more });
    const made = [
      await observation({ subject: { reference: `${t.baseUrl}/Patient/${p1.id}` } }),
      await observation({ subject: { reference: `Patient/${p1.id}/_history/1` } }),
      await observation({ subject: { reference: `http://other.example.org/fhir/Patient/${p1.id}` } }),
      await observation({ contained: [{ resourceType: 'Patient', id: 'p', name: [{ family: `${family}-Ábc` }] }], subject: { reference: '#p' } }),
      await observation({ subject: { reference: `Patient/${p2.id}` } }),
    ];
    await observation({ subject: { reference: `Patient/${p2.id}` }, hasMember: made.map((m) => ({ reference: `Observation/${m.id}` })) });
    const leaf = (q: string, value: string, system?: string, type: Leaf['type'] = 'string'): Leaf => ({ kind: 'leaf', code: q, type, values: [{ system, value }] });
    const chain = (q: string, inner: Criterion, target?: string): Chain => ({ kind: 'chain', code: q, target, inner });
    const has = (source: string, q: string, inner: Criterion): Has => ({ kind: 'has', source, code: q, inner });
    const coded = leaf('code', 'c1', 'http://example.org/chain-oracle', 'token');
    const cases: { type: string; c: Criterion | Criterion[] }[] = [
      { type: 'Observation', c: chain('subject', leaf('family', family), 'Patient') },
      { type: 'Observation', c: chain('subject', leaf('name', 'chainoracle-abc')) },
      { type: 'Observation', c: chain('patient', leaf('given', 'zed')) },
      { type: 'Observation', c: [coded, chain('subject', leaf('gender', 'other', undefined, 'token'), 'Patient')] },
      { type: 'Observation', c: chain('has-member', chain('subject', leaf('family', `${family}-D`), 'Patient'), 'Observation') },
      { type: 'Observation', c: chain('has-member', chain('subject', leaf('family', family))) },
      { type: 'Patient', c: has('Observation', 'subject', coded) },
      { type: 'Patient', c: [leaf('family', family), has('Observation', 'patient', coded)] },
      { type: 'Patient', c: has('Observation', 'subject', has('Observation', 'has-member', coded)) },
      { type: 'Patient', c: has('Observation', 'subject', chain('has-member', chain('subject', leaf('family', `${family}-Ab`)), 'Observation')) },
    ];
    const disagreements = [...(await check('changes: as created', cases))];
    expect(stats['changes: as created'].nonEmpty).toBeGreaterThanOrEqual(8);
    // the target's new name, not its old one (search.html: the current version is searched)
    await send({ ...p1, name: [{ family: `${family}-Xyz` }] });
    disagreements.push(...(await check('changes: target updated', [...cases, { type: 'Observation', c: chain('subject', leaf('family', `${family}-X`), 'Patient') }])));
    // a deleted target is no longer reached, a deleted source no longer refers
    const list = await send({ resourceType: 'List', status: 'current', mode: 'working', entry: [p1, p2].map((p) => ({ item: { reference: `Patient/${p.id}` } })) });
    await remove(`Patient/${p2.id}`);
    await remove(`Observation/${made[0].id}`);
    disagreements.push(...(await check('changes: deleted', cases)));
    // a deleted resource is no match, also when what finds it are other resources' references to it
    // (`_has` above; `_list`, search.html#list, the same way)
    const listed = (await everyPage(t, `Patient?_list=${list.id}`)).map((e) => e.resource?.id ?? null);
    if (JSON.stringify(listed) !== JSON.stringify([p1.id])) disagreements.push(`Patient?_list=${list.id}: ${JSON.stringify(listed)}`);
    expect(disagreements).toEqual([]);
  });
});

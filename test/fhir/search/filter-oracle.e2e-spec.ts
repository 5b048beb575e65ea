import * as fs from 'fs';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { ChainOracle } from './chain-oracle';
import { everyPage, keyDiff, storeCompartmentUniverse } from './compartments';
import { entries } from './number-quantity-oracle';
import { dates } from './r4-examples-sort-keys';
import { EXAMPLES, pool, tokenPairs } from './r4-examples-sweep-values';
import { syntheaPresent } from './synthea-fixtures';
import { DAY, evalExpr, Expr, leafMatches, Op, paramsOf, render, unsure, Values } from './filter-oracle';

/**
 * Oracle test of `_filter` (search_filter.html, R4 trial use) as the README documents it, on the R4
 * spec examples and three Synthea patients stored in the test's own schema (compartments.ts). Filter
 * expressions are generated from the data (values of actual resources, so most expectations are
 * non-empty, and values that exclude some), the expected matches computed here with FHIRPath over the
 * R4 SearchParameters' expressions (filter-oracle.ts), none of the server's code, and compared with
 * every page of `GET [type]?_filter=…&_count=50`.
 *
 * Checks, by spec section:
 * - search_filter.html#ops, per parameter type (README table): string eq ne co sw ew; token eq ne (and
 *   the `loinc|` alias); date eq ne gt lt ge le sa eb ap po; quantity eq ne gt lt ge le sa eb ap;
 *   reference re eq ne; `pr true|false` on each. (Token ss/sb/in/ni need terminology: not generated.)
 * - search_filter.html#logical: and, or, `not (…)`, parentheses, runs of mixed and/or folded left to
 *   right with no precedence.
 * - search_filter.html#paths: a chain through a reference (`subject.name co "…"`): the reference names a
 *   stored resource of a target type that has the parameter, and that resource matches the test
 *   (search.html#chaining).
 */
const present = syntheaPresent() && fs.existsSync(EXAMPLES);
if (!present) console.warn('skipping the _filter oracle: ../shared/fixtures (synthea and r4-examples) not found');

/** type → parameters tested (R4 codes), chains as `reference.code` */
const PLAN: Record<string, string[]> = {
  Patient: ['name', 'family', 'given', 'address-city', 'gender', 'identifier', 'birthdate', 'general-practitioner', 'organization'],
  Practitioner: ['name', 'family', 'given', 'gender', 'identifier'],
  Organization: ['name', 'identifier', 'type'],
  Observation: ['code', 'status', 'category', 'date', 'value-quantity', 'subject', 'encounter', 'subject.name', 'subject.gender', 'subject.birthdate', 'encounter.class'],
  Condition: ['code', 'clinical-status', 'onset-date', 'recorded-date', 'subject', 'encounter', 'subject.family'],
  Encounter: ['class', 'status', 'type', 'date', 'subject', 'participant', 'subject.name', 'participant.family', 'service-provider.name'],
  MedicationRequest: ['status', 'intent', 'code', 'authoredon', 'subject', 'requester', 'subject.given', 'requester.name'],
  Procedure: ['code', 'status', 'date', 'subject', 'subject.birthdate'],
  Immunization: ['vaccine-code', 'date', 'patient', 'patient.name'],
  Library: ['url', 'title', 'status', 'date', 'type'],
  PlanDefinition: ['url', 'title', 'status'],
  ActivityDefinition: ['url', 'title', 'status'],
  RiskAssessment: ['probability', 'subject', 'date'],
};

const OPS: Record<string, Op[]> = {
  string: ['eq', 'ne', 'co', 'sw', 'ew'],
  token: ['eq', 'ne'],
  date: ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'po'],
  quantity: ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'],
  number: ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'],
  reference: ['re', 'eq', 'ne'],
  uri: ['eq', 'ne', 'ss', 'sb'],
};

/** A small deterministic generator (mulberry32), so a failure reproduces. */
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const SAMPLES = 3;
const COMBOS_PER_TYPE = 40;
const CONCURRENCY = 8;

interface Query {
  type: string;
  filter: string;
  /** the operations it uses (leaf queries: the one) */
  ops: string[];
  expected: string[];
}

(present ? describe : describe.skip)('_filter oracle (search_filter.html) over the R4 examples and Synthea', () => {
  let t: TestApp;
  let universe = new Map<string, any>();

  beforeAll(async () => {
    t = await startTestApp();
    ({ universe } = await storeCompartmentUniverse(t));
  }, 180_000);
  afterAll(async () => t?.close());

  it('every generated filter finds exactly what the spec and the README say', async () => {
    const now = Date.now();
    const values = new Values(universe);
    const chains = new ChainOracle(universe, t.baseUrl);
    const random = rng(4242);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
    const queries: Query[] = [];

    for (const [type, plan] of Object.entries(PLAN)) {
      const own = chains.byType.get(type) ?? [];
      const all = new Set(own);
      const leaves: Expr[] = [];
      for (const path of plan) {
        const [first, second] = path.split('.');
        const p = paramsOf(type).get(first);
        if (!p?.expression) throw new Error(`${type}.${first}: no R4 parameter`);
        // the resources of `type` a leaf on the last parameter of the path matches, and the parameter the values come from
        let leafType = type;
        let q = p;
        let through: ((hits: Set<string>) => Set<string>) | undefined;
        if (second) {
          // search.html#chaining: a stored target of one of the reference's target types that has the parameter
          const targets = chains.targetsOf(type, first).filter((u) => paramsOf(u).has(second));
          const edges = chains.edges(type, first);
          leafType = targets.find((u) => (chains.byType.get(u) ?? []).length) ?? targets[0];
          q = paramsOf(leafType).get(second)!;
          // values are generated from one target type; the others' matches count too (targetKeys)
          through = (hits) => new Set(own.filter((k) => (edges.get(k) ?? []).some((x) => hits.has(x))));
        }
        const targetKeys = second ? chains.targetsOf(type, first).filter((u) => paramsOf(u).has(second)).flatMap((u) => chains.byType.get(u) ?? []) : own;
        const decide = (op: Op, value: string): { hits: Set<string>; unsure: boolean } => {
          if (through && op === 'ne' && (q.type === 'string' || q.type === 'reference')) {
            // README: `ne` on a string or reference is `not (… eq …)`, the whole path negated: `subject.name ne "x"`
            // also finds the resources whose subject is not stored or has no name (a token's `ne` is `:not`, a
            // date's the `ne` prefix: both on the target)
            const eq = decide('eq', value);
            return { hits: new Set(own.filter((k) => !eq.hits.has(k))), unsure: eq.unsure };
          }
          const results = targetKeys.map((k) => [k, leafMatches(q.type, op, value, values.of(k, paramsOf(universe.get(k).resourceType).get(q.code)!), t.baseUrl, now)] as const);
          const hitsTarget = new Set(results.filter(([, m]) => m === true).map(([k]) => k));
          return { hits: through ? through(hitsTarget) : hitsTarget, unsure: results.some(([, m]) => m === undefined) };
        };
        // sample values from resources holding one (first, middle, last; more for the few quantities and numbers),
        // through a chain from the targets referred to
        const referred = second ? new Set([...chains.edges(type, first).values()].flat()) : undefined;
        const holding = (chains.byType.get(leafType) ?? []).filter((k) => values.of(k, q).length);
        const holders = referred && holding.some((k) => referred.has(k)) ? holding.filter((k) => referred.has(k)) : holding;
        const n = q.type === 'quantity' || q.type === 'number' ? 6 : SAMPLES;
        const sample = [...new Set(Array.from({ length: n }, (_, i) => holders[Math.floor((i * (holders.length - 1)) / Math.max(n - 1, 1))]))].filter(Boolean);
        const tests: [Op, string][] = [];
        for (const k of sample) {
          const vs = values.of(k, q);
          for (const op of OPS[q.type] ?? []) {
            if (q.type === 'string') {
              const s = vs.flatMap((v) => (typeof v.value === 'string' ? [v.value] : v.type === 'HumanName' ? [v.value.family ?? v.value.given?.[0]] : v.type === 'Address' ? [v.value.city] : [])).find((x) => typeof x === 'string' && x.trim().length >= 3);
              if (!s) continue;
              const chars = Array.from(s.trim());
              const v = op === 'sw' ? chars.slice(0, 3).join('') : op === 'ew' ? chars.slice(-3).join('') : op === 'co' ? chars.slice(1, 4).join('') : op === 'eq' && k === sample[0] ? s.trim().toUpperCase() : s.trim();
              tests.push([op, v]);
            } else if (q.type === 'token') {
              const pair = vs.flatMap(tokenPairs)[0];
              if (!pair) continue;
              const sys = pair.system === 'http://loinc.org' ? 'loinc' : pair.system;
              tests.push([op, k === sample[1] || sys === undefined ? pair.code : `${sys}|${pair.code}`]);
            } else if (q.type === 'uri') {
              const u = vs.map((v) => v.value).find((x) => typeof x === 'string' && /^https?:\/\/[^/]+\/.+\/[^/]+$/.test(x));
              if (!u) continue;
              // ss (:below): a parent path of the uri; sb (:above): a uri below it
              tests.push([op, op === 'ss' ? u.slice(0, u.lastIndexOf('/')) : op === 'sb' ? `${u}/child` : u]);
            } else if (q.type === 'reference') {
              const ref = vs.map((v) => /^([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(\/_history\/.*)?$/.exec(v.value?.reference ?? '')?.[1]).find(Boolean);
              if (ref) tests.push([op, ref]);
            } else if (q.type === 'date') {
              const r = vs.flatMap(dates).find(([a]) => Number.isFinite(a));
              if (!r) continue;
              // the day it starts, its year, the day before it (excludes some), a month
              const v = k === sample[0] ? day(r[0]) : k === sample[1] ? day(r[0]).slice(0, 4) : day(r[0] - DAY).slice(0, 7);
              tests.push([op, v]);
              if (k === sample[0] && op !== 'ap') tests.push([op, day(r[0] - 400 * DAY)]);
            } else if (q.type === 'quantity' || q.type === 'number') {
              const e = entries(vs)[0];
              if (!e?.low) continue;
              tests.push([op, String(e.lowN)]);
              if (k === sample[0]) tests.push([op, String(Math.round((e.lowN ?? 0) * 2) + 1)]);
            }
          }
        }
        tests.push(['pr', 'true'], ['pr', 'false']);
        for (const [op, value] of [...new Map(tests.map((x) => [x.join(' '), x])).values()]) {
          const { hits, unsure: u } = decide(op, value);
          // search_filter.html#grammar: a value is a token or a JSON string (one holding a space, `(`, `)`, `[`, `]` or `"` must be quoted)
          const bare = op === 'pr' || (/^[^\s()[\]"]+$/.test(value) && random() < 0.5);
          const text = `${path} ${op} ${bare ? value : JSON.stringify(value)}`;
          const leaf: Expr = { kind: 'leaf', text, hits, unsure: u, label: `${q.type} ${op}${second ? ' chain' : ''}` };
          if (u) continue;
          leaves.push(leaf);
          queries.push({ type, filter: text, ops: [leaf.kind === 'leaf' ? leaf.label : ''], expected: [...hits].sort() });
        }
      }

      // search_filter.html#logical: combinations, runs of mixed and/or read left to right, not, parentheses
      const term = (depth: number): Expr => {
        const r = random();
        if (depth < 2 && r < 0.2) return { kind: 'not', inner: pick([() => pick(leaves), () => ({ kind: 'paren', inner: run(depth + 1) }) as Expr])() };
        if (depth < 2 && r < 0.4) return { kind: 'paren', inner: run(depth + 1) };
        return pick(leaves);
      };
      const run = (depth: number): Expr => {
        const n = 2 + Math.floor(random() * (depth === 0 ? 3 : 2));
        return { kind: 'run', first: term(depth), rest: Array.from({ length: n - 1 }, () => ({ op: random() < 0.5 ? 'and' : 'or', term: term(depth) })) };
      };
      const seen = new Set<string>();
      for (let i = 0; i < COMBOS_PER_TYPE && leaves.length; i++) {
        const e = run(0);
        const filter = render(e);
        if (seen.has(filter) || unsure(e)) continue;
        seen.add(filter);
        const ops = /\b(and|or)\b.*\b(and|or)\b/.test(filter) && filter.includes(' and ') && filter.includes(' or ') ? ['mixed'] : [];
        queries.push({ type, filter, ops: ['combination', ...ops, ...(filter.includes('not (') ? ['not'] : [])], expected: [...evalExpr(e, all)].sort() });
      }
    }

    // not vacuous: per operation label, how many queries expect some and how many expect some but not all
    const counts: Record<string, { queries: number; nonEmpty: number; partial: number }> = {};
    for (const q of queries) {
      const size = (chains.byType.get(q.type) ?? []).length;
      for (const op of q.ops) {
        const c = (counts[op] ??= { queries: 0, nonEmpty: 0, partial: 0 });
        c.queries++;
        if (q.expected.length) c.nonEmpty++;
        if (q.expected.length && q.expected.length < size) c.partial++;
      }
    }
    console.info(`_filter oracle: ${queries.length} queries\n${Object.entries(counts).sort().map(([k, c]) => `  ${k}: ${c.queries} (${c.nonEmpty} non-empty, ${c.partial} partial)`).join('\n')}`);

    // not vacuous: every operation of every type tested finds some resources and not all (search_filter.html#ops)
    for (const [type, ops] of Object.entries(OPS))
      for (const op of [...ops, 'pr']) {
        const c = counts[`${type} ${op}`];
        expect([`${type} ${op}`, c?.nonEmpty ?? 0, c?.partial ?? 0].map((x) => (typeof x === 'number' ? Math.min(x, 1) : x))).toEqual([`${type} ${op}`, 1, 1]);
      }
    for (const label of ['string co chain', 'string ne chain', 'token eq chain', 'token ne chain', 'date po chain', 'date lt chain']) expect([label, Math.min(counts[label]?.partial ?? 0, 1)]).toEqual([label, 1]);
    expect(counts.combination.partial).toBeGreaterThan(200);
    expect(counts.mixed.partial).toBeGreaterThan(100);
    expect(counts.not.partial).toBeGreaterThan(100);

    const started = Date.now();
    const disagreements: string[] = [];
    await pool(queries, CONCURRENCY, async (q) => {
      const url = `${q.type}?_filter=${encodeURIComponent(q.filter)}&_count=50&_elements=id`;
      let actual: string[];
      try {
        actual = (await everyPage(t, url)).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
      } catch (err) {
        disagreements.push(`${q.type}?_filter=${q.filter}: ${(err as Error).message.slice(0, 300)}`);
        return;
      }
      if (JSON.stringify(actual) !== JSON.stringify(q.expected)) {
        const d = keyDiff(q.expected, actual);
        disagreements.push(`${q.type}?_filter=${q.filter}: expected ${q.expected.length}, got ${actual.length}; missing ${d.missing.slice(0, 3).join(' ')}; extra ${d.extra.slice(0, 3).join(' ')}`);
      }
    });
    console.info(`_filter oracle: searched in ${Date.now() - started} ms, ${disagreements.length} disagreements`);
    expect(disagreements.sort()).toEqual([]);
  }, 300_000);

  // search_filter.html#ops `po` ("overlaps"): a period that starts inside the value and ends after it, one
  // that starts before and ends inside, one around it and one within it all overlap it; `ge` and `le`
  // together (the server's first reading) found only the last two
  it('po finds the periods that overlap the value partly', async () => {
    const period = (start: string, end: string) => ({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { start, end } });
    const made: Record<string, string> = {};
    for (const [name, [start, end]] of Object.entries({
      after: ['2031-05-01T22:00:00Z', '2031-05-02T02:00:00Z'],
      before: ['2031-04-30T22:00:00Z', '2031-05-01T02:00:00Z'],
      around: ['2031-04-30T22:00:00Z', '2031-05-02T02:00:00Z'],
      within: ['2031-05-01T08:00:00Z', '2031-05-01T09:00:00Z'],
      apart: ['2031-05-02T08:00:00Z', '2031-05-02T09:00:00Z'],
    })) {
      const res = await t.http.post('/fhir/Encounter').set('Content-Type', 'application/fhir+json').send(period(start, end));
      made[name] = `Encounter/${res.body.id}`;
    }
    // among these (an R4 example with an open period overlaps them too), with `_id`: a `_filter` is ANDed with the other parameters
    const ids = Object.values(made).map((k) => k.slice('Encounter/'.length)).join(',');
    const found = async (filter: string) => (await everyPage(t, `Encounter?_filter=${encodeURIComponent(filter)}&_id=${ids}&_count=50`)).map((e) => `Encounter/${e.resource.id}`).sort();
    expect(await found('date po 2031-05-01')).toEqual([made.after, made.before, made.around, made.within].sort());
    expect(await found('date po 2031-05-01T23:30:00Z and status eq finished')).toEqual([made.after, made.around].sort());
    expect(await found('date po 2031-05')).toEqual(Object.values(made).sort());
  });
});

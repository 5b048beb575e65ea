import * as fs from 'fs';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { compareKeys, SortKeys, sortKeys } from './r4-examples-sort-keys';
import { EXAMPLES, evaluate, pool, r4ParamsByType, readExamples, RELATIVE, ReferencePair, searchValue, storeExamples, SweepParam } from './r4-examples-sweep-values';

/**
 * The parts of search that follow references and order results, on the FHIR R4 spec examples
 * (hl7.fhir.r4.examples 4.0.1) stored as r4-examples-sweep.e2e-spec.ts stores them. Every reference
 * parameter value an example holds (evaluated with the `fhirpath` package, r4-examples-sweep-values.ts)
 * that is a relative `Type/id` (or the canonical URL) of another stored example is a pair (referrer,
 * parameter, target), and each pair is searched as `_include`, `_revinclude`, a chain and `_has`
 * (search.html#include, #revinclude, #chaining, #has); every sortable parameter with values on two or more
 * examples of a type is sorted both ways, on one page and page by page, and the order checked against the
 * keys r4-examples-sort-keys.ts derives (search.html#sort). Every expectation comes from the examples; none
 * is written here. Any answer other than 200 fails.
 */
const present = fs.existsSync(EXAMPLES);
if (!present) console.warn(`skipping the R4 examples reference and sort searches: ${EXAMPLES} is absent`);

/**
 * Searches known to fail, query → why. Each must still fail (the list cannot go stale): fix the server,
 * then remove the entry.
 */
const KNOWN: Record<string, string> = {};

const CONCURRENCY = 8;

type Pair = ReferencePair;

/** A search and what its answer must show: undefined when it does, else what is wrong. */
interface Probe {
  query: string;
  check: (bundle: any) => string | undefined;
  /** follow the `next` links: the check sees every page's entries in one Bundle */
  paged?: boolean;
}

const entries = (b: any): any[] => b.entry ?? [];
const holds = (b: any, mode: string, type: string, id: string) =>
  entries(b).some((e) => e.search?.mode === mode && e.resource?.resourceType === type && e.resource?.id === id);
/** An entry: its search.mode, resource type and id. */
type Item = [mode: string, type: string, id: string];
/** A check that the answer holds each of `want`, none of `not`. */
const expects =
  (want: Item[], not: Item[] = []) =>
  (b: any) => {
    const missing = want.filter(([m, ty, id]) => !holds(b, m, ty, id)).map(([m, ty, id]) => `${ty}/${id} missing as ${m}`);
    const extra = not.filter(([m, ty, id]) => holds(b, m, ty, id)).map(([m, ty, id]) => `${ty}/${id} found as ${m}`);
    return missing.length || extra.length ? [...missing, ...extra].join(', ') : undefined;
  };
const enc = encodeURIComponent;

type Ask = (p: Pair) => [query: string, items: Item[]] | undefined;

/** One probe per query the pairs ask, which must hold the items of every pair that asks it. */
const grouped = (pairs: Pair[], ...asks: Ask[]): Probe[] => {
  const wanted = new Map<string, Map<string, Item>>();
  for (const p of pairs) {
    for (const [query, items] of asks.map((ask) => ask(p)).filter((a) => a !== undefined)) {
      const m = wanted.get(query) ?? new Map<string, Item>();
      for (const item of items) m.set(item.join(' '), item);
      wanted.set(query, m);
    }
  }
  return [...wanted].map(([query, m]) => ({ query, check: expects([...m.values()]) }));
};

const referrer = (p: Pair): Item[] => [['match', p.type, p.id]];
const target = (p: Pair): Item[] => [['match', p.targetType, p.tid]];
const includeOf = (p: Pair, inc: string): ReturnType<Ask> => [`${p.type}?_id=${enc(p.id)}&_include=${inc}`, [...referrer(p), ['include', p.targetType, p.tid]]];
const revincludeOf = (p: Pair, inc: string): ReturnType<Ask> => [`${p.targetType}?_id=${enc(p.tid)}&_revinclude=${inc}`, [...target(p), ['include', p.type, p.id]]];

/** search.html#include: `_include=[type]:[code]` and `[type]:[code]:[targetType]` return the target, search.mode=include. */
const includes = (pairs: Pair[]) =>
  grouped(
    pairs,
    (p) => includeOf(p, `${p.type}:${p.code}`),
    (p) => includeOf(p, `${p.type}:${p.code}:${p.targetType}`),
  );

/**
 * search.html#include: "Both `_include` and `_revinclude` use the wild card "*" for the search parameter name":
 * `_include=[type]:*` returns every target of the referrer, `[targetType]?_id=[tid]&_revinclude=[type]:*` every
 * referrer of that type.
 */
const wildcards = (pairs: Pair[]) =>
  grouped(
    pairs,
    (p) => includeOf(p, `${p.type}:*`),
    (p) => revincludeOf(p, `${p.type}:*`),
  );

/** search.html#revinclude: `[targetType]?_id=[tid]&_revinclude=[type]:[code]` returns the referrer, search.mode=include. */
const revincludes = (pairs: Pair[]) => grouped(pairs, (p) => revincludeOf(p, `${p.type}:${p.code}`));

/** search.html#has: `[targetType]?_has:[type]:[code]:_id=[id]` finds the target. */
const reverseChains = (pairs: Pair[]) => grouped(pairs, (p) => [`${p.targetType}?_id=${enc(p.tid)}&_has:${p.type}:${p.code}:_id=${enc(p.id)}`, target(p)]);

/** Pairs and the examples they join, as stored, by `Type/id`. */
interface Corpus {
  pairs: Pair[];
  stored: Map<string, Record<string, any>>;
}

/**
 * search.html#chaining: `[code]:[targetType]._id=[tid]` finds the referrer, and so does
 * `[code]:[targetType].[p]=[value]` for the first token or string parameter `p` of the target with a value (the
 * same value r4-examples-sweep.e2e-spec.ts finds the target itself by).
 */
const chains = (c: Corpus) => {
  const chained: Ask = (p) => {
    const resource = c.stored.get(`${p.targetType}/${p.tid}`)!;
    const found = paramsOf(p.targetType)
      .filter((tp) => (tp.type === 'token' || tp.type === 'string') && !tp.code.startsWith('_'))
      .map((tp) => ({ tp, value: searchValue(tp, resource).search }))
      .find((x) => x.value !== undefined);
    return found && [`${p.type}?_id=${enc(p.id)}&${p.code}:${p.targetType}.${found.tp.code}=${enc(found.value!)}`, referrer(p)];
  };
  return grouped(c.pairs, (p) => [`${p.type}?_id=${enc(p.id)}&${p.code}:${p.targetType}._id=${enc(p.tid)}`, referrer(p)], chained);
};

/** Controls: a chain or `_has` naming an id no example has finds nothing (a criterion ignored would find it). */
const chainControl = (p: Pair): Probe => ({ query: `${p.type}?_id=${enc(p.id)}&${p.code}:${p.targetType}._id=r4-none`, check: expects([], referrer(p)) });
const hasControl = (p: Pair): Probe => ({ query: `${p.targetType}?_id=${enc(p.tid)}&_has:${p.type}:${p.code}:_id=r4-none`, check: expects([], target(p)) });

const paramsOf = r4ParamsByType();
const referenceParamsOf = r4ParamsByType(new Set(['reference']));

/**
 * The (referrer, parameter, target) pairs: a reference parameter's value that is the relative `Type/id` of
 * another stored example, or a canonical that is the `url` (or `url|version`) of exactly one stored example
 * (references.html#canonical; search.html#versions). (The examples whose references break their element's
 * `Reference(…)` types, MedicationRequest-medrx0301 and Observation-clinical-gender, are refused with 422.)
 */
function pairsOf(stored: Map<string, Record<string, any>>): { pairs: Pair[]; canonical: number } {
  const byUrl = new Map<string, string[]>();
  for (const [key, r] of stored) {
    for (const url of typeof r.url === 'string' ? [r.url, ...(r.version ? [`${r.url}|${r.version}`] : [])] : []) byUrl.set(url, [...(byUrl.get(url) ?? []), key]);
  }
  const pairs = new Map<string, Pair>();
  let canonical = 0;
  for (const [key, resource] of stored) {
    for (const sp of referenceParamsOf(resource.resourceType)) {
      for (const v of evaluate(sp.expression, resource)) {
        const raw = v.type === 'Reference' ? v.value.reference : v.type === 'canonical' ? v.value : undefined;
        const byCanonical = v.type === 'canonical' && byUrl.get(raw)?.length === 1 ? byUrl.get(raw)![0] : undefined;
        const ref = RELATIVE.exec(typeof raw === 'string' ? raw : '')?.[1] ?? byCanonical;
        if (!ref || ref === key || !stored.has(ref)) continue;
        const [targetType, tid] = ref.split('/');
        if (ref === byCanonical) canonical++;
        pairs.set(`${key} ${sp.code} ${ref}`, { type: resource.resourceType, id: resource.id, code: sp.code, targetType, tid });
      }
    }
  }
  return { pairs: [...pairs.values()], canonical };
}

/** A sort case: a type's parameter with values on two or more stored examples; keys by id, every stored id of the type. */
interface SortCase {
  type: string;
  param: SweepParam;
  keys: Map<string, SortKeys>;
  ids: string[];
}

/**
 * search.html#sort: `_sort=[code]` orders the examples with values by their lowest value, `_sort=-[code]` by
 * their highest (r4-examples-sort-keys.ts), and puts those without a value after them, in either direction
 * (README, Search: "no value last"; the spec leaves their place open). One page of all, and where some
 * examples have no value, pages of 5 followed by their `next` links (search.html#count, the README's keyset
 * cursor: every match once, in the same order).
 */
const sorts = (c: SortCase): Probe[] =>
  [false, true].flatMap((descending) =>
    (c.keys.size < c.ids.length && c.ids.length > 5 ? [1000, 5] : [1000]).map((count) => ({
      query: `${c.type}?_sort=${descending ? '-' : ''}${c.param.code}&_count=${count}`,
      paged: count < 1000,
      check: (b: any) => orderFailure(c, descending, matchIds(b)),
    })),
  );

const matchIds = (b: any): string[] => entries(b).filter((e) => e.search?.mode === 'match').map((e) => e.resource.id);

/** What is wrong with the order `got` of a sort case's matches, or undefined. */
function orderFailure(c: SortCase, descending: boolean, got: string[]): string | undefined {
  if (got.length !== c.ids.length || new Set(got).size !== got.length || got.some((id) => !c.ids.includes(id))) {
    return `${got.length} matches (${new Set(got).size} different) of ${c.ids.length} examples`;
  }
  const n = c.keys.size;
  const interleaved = got.slice(0, n).filter((id) => !c.keys.has(id));
  if (interleaved.length) return `without a value, among the first ${n}: ${interleaved.join(', ')}`;
  const key = (id: string) => (descending ? c.keys.get(id)!.high : c.keys.get(id)!.low);
  const i = got.slice(1, n).findIndex((id, j) => (descending ? -1 : 1) * compareKeys(key(got[j]), key(id)) > 0);
  return i < 0 ? undefined : `${got[i]} (${key(got[i])}) before ${got[i + 1]} (${key(got[i + 1])})`;
}

function sortCases(stored: Map<string, Record<string, any>>): SortCase[] {
  const byType = new Map<string, Record<string, any>[]>();
  for (const r of stored.values()) byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), r]);
  const cases: SortCase[] = [];
  for (const [type, resources] of byType) {
    for (const param of paramsOf(type)) {
      const keys = new Map<string, SortKeys>();
      for (const r of resources) {
        const k = sortKeys(param, r);
        if (k) keys.set(r.id, k);
      }
      if (keys.size >= 2) cases.push({ type, param, keys, ids: resources.map((r) => r.id) });
    }
  }
  return cases;
}

(present ? describe : describe.skip)('R4 spec examples: _include, _revinclude, chains, _has and _sort (search.html)', () => {
  let t: TestApp;
  const corpus: Corpus = { pairs: [], stored: new Map() };
  let sortable: SortCase[] = [];
  /** pairs by an absolute canonical URL */
  let canonical = 0;
  const ran = new Set<string>();
  /** searches run, per test */
  const counts: string[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    const { stored } = await storeExamples(t, present ? readExamples() : [], CONCURRENCY);
    for (const { resource } of stored) corpus.stored.set(`${resource.resourceType}/${resource.id}`, resource);
    ({ pairs: corpus.pairs, canonical } = pairsOf(corpus.stored));
    sortable = sortCases(corpus.stored);
  }, 120_000);
  afterAll(async () => {
    if (counts.length) console.info(`R4 examples references, searches run: ${counts.join(', ')}`);
    await t?.close();
  });

  /** Runs the probes: none may answer other than 200 (a 500 included) or miss its check, unless KNOWN (which must still fail). */
  async function verify(name: string, probes: Probe[]): Promise<void> {
    expect(probes.length).toBeGreaterThan(0);
    counts.push(`${name} ${probes.length}`);
    const outcomes = await pool(probes, CONCURRENCY, async (pr) => {
      ran.add(pr.query);
      const all: any[] = [];
      for (let url: string | undefined = `/fhir/${pr.query}`; url; ) {
        const res = await t.http.get(url);
        if (res.status !== 200) return { query: pr.query, failure: `${res.status} ${res.body?.issue?.[0]?.diagnostics ?? ''}` };
        all.push(...entries(res.body));
        const next = pr.paged && res.body.link?.find((l: any) => l.relation === 'next')?.url;
        url = next && all.length < 2000 ? next.replace(t.baseUrl, '/fhir') : undefined;
      }
      return { query: pr.query, failure: pr.check({ entry: all }) };
    });
    expect(outcomes.filter((o) => o.failure && !KNOWN[o.query]).map((o) => `${o.query}: ${o.failure}`)).toEqual([]);
    // the known failures still fail (else the entry is stale: remove it)
    expect(outcomes.filter((o) => !o.failure && KNOWN[o.query]).map((o) => o.query)).toEqual([]);
  }

  it('finds reference pairs and sortable parameters among the stored examples', () => {
    // sort cases that can fail: two different keys (ascending or descending), or examples without a value
    const ordered = sortable.filter((c) => (['low', 'high'] as const).some((end) => new Set([...c.keys.values()].map((k) => k[end])).size > 1));
    const partial = sortable.filter((c) => c.keys.size < c.ids.length);
    console.info(
      `R4 examples references: ${corpus.stored.size} stored, ${corpus.pairs.length} (referrer, parameter, target) pairs (${canonical} by a canonical URL) over ` +
        `${new Set(corpus.pairs.map((p) => `${p.type}.${p.code}`)).size} (type, parameter); ${sortable.length} sortable (type, parameter), ` +
        `${ordered.length} with different values, ${partial.length} with examples without a value`,
    );
    expect(corpus.pairs.length).toBeGreaterThan(1000);
    expect(canonical).toBeGreaterThan(0);
    expect(ordered.length).toBeGreaterThan(400);
    expect(partial.length).toBeGreaterThan(300);
  });

  it('_include=[type]:[code] and [type]:[code]:[targetType] return the target as search.mode=include (search.html#include)', async () => {
    await verify('_include', includes(corpus.pairs));
  });

  it('_include=[type]:* and _revinclude=[type]:* return every target / referrer (search.html#include)', async () => {
    await verify('[type]:*', wildcards(corpus.pairs));
  });

  it('_revinclude=[type]:[code] returns the referrer as search.mode=include (search.html#revinclude)', async () => {
    await verify('_revinclude', revincludes(corpus.pairs));
  });

  it('[code]:[targetType]._id and [code]:[targetType].[param] find the referrer (search.html#chaining)', async () => {
    await verify('chains', [...chains(corpus), chainControl(corpus.pairs[0])]);
  });

  it('_has:[type]:[code]:_id finds the target (search.html#has)', async () => {
    await verify('_has', [...reverseChains(corpus.pairs), hasControl(corpus.pairs[0])]);
  });

  it('_sort=[code] and _sort=-[code] order by the lowest / highest value, no value last (search.html#sort)', async () => {
    await verify('_sort', sortable.flatMap(sorts));
  });

  it('every KNOWN entry is a search this file runs', () => {
    expect(Object.keys(KNOWN).filter((k) => !ran.has(k))).toEqual([]);
  });
});

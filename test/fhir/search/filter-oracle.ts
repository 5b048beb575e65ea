import { fold, paramsOf, stringParts, type Param } from './chain-oracle';
import { localReference } from './compartments';
import { entries, prefixMatches, type Prefix } from './number-quantity-oracle';
import { datePrefixMatches, dateRange, dates } from './r4-examples-sort-keys';
import { evaluate, tokenPairs, type Typed } from './r4-examples-sweep-values';

/**
 * The `_filter` oracle's semantics (search_filter.html, R4 trial use, as the README documents it),
 * computed independently of the server: each test `path op value` is decided on the values the R4
 * SearchParameter's FHIRPath expression selects (the `fhirpath` package, r4-examples-sweep-values.ts),
 * by the rules of the parameter's type; `and`/`or`/`not` are set operations, folded left to right.
 * `undefined`: too close to call (a date `ap` within a minute of its window's edge).
 */

export type Op = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap' | 'po' | 're' | 'pr' | 'ss' | 'sb';
export const DAY = 24 * 3600_000;

/** A parameter's values on a resource, cached per (resource key, parameter). */
export class Values {
  private cache = new Map<string, Typed[]>();
  constructor(readonly universe: Map<string, any>) {}
  of(key: string, p: Param): Typed[] {
    const ck = `${key} ${p.code}`;
    let v = this.cache.get(ck);
    if (!v) this.cache.set(ck, (v = evaluate(p.expression!, this.universe.get(key))));
    return v;
  }
}

/** Any of several tri-state answers: true when one is, undefined when none is but one is undecided. */
export const anyOf = (xs: (boolean | undefined)[]): boolean | undefined => (xs.some((x) => x === true) ? true : xs.some((x) => x === undefined) ? undefined : false);

/** One leaf test on a parameter of `type` (the R4 SearchParameter's type), on the values it selects. */
export function leafMatches(ptype: string, op: Op, value: string, values: Typed[], baseUrl: string, now: number): boolean | undefined {
  if (op === 'pr') {
    // search_filter.html#ops "pr": the parameter has a value (README: `pr true` is `:missing=false`)
    const present =
      ptype === 'string'
        ? values.some((v) => (stringParts(v) ?? []).some((s) => s.trim()))
        : ptype === 'date'
          ? values.some((v) => dates(v).length > 0)
          : ptype === 'quantity' || ptype === 'number'
            ? entries(values).length > 0
            : ptype === 'reference'
              ? values.some((v) => typeof v.value?.reference === 'string' || typeof v.value === 'string')
              : values.length > 0;
    return value === 'true' ? present : !present;
  }
  switch (ptype) {
    case 'string': {
      // search.html#string, README: case and accent insensitive; eq/ne the whole value, co/sw/ew within it
      const want = fold(value);
      const parts = values.flatMap((v) => stringParts(v) ?? []).map(fold);
      const test = { eq: (s: string) => s === want, ne: (s: string) => s === want, co: (s: string) => s.includes(want), sw: (s: string) => s.startsWith(want), ew: (s: string) => s.endsWith(want) }[op as 'eq'];
      const hit = parts.some(test);
      // README: `ne` on a string is `not (… eq …)`: no value equal (resources without a value included)
      return op === 'ne' ? !hit : hit;
    }
    case 'token': {
      // search.html#token: `code` any system, `system|code`; search_filter.html#ops: loinc|… is http://loinc.org|…;
      // `ne` is `:not`: the resources without the token, those without a value too
      const bar = value.indexOf('|');
      const alias: Record<string, string> = { loinc: 'http://loinc.org', snomed: 'http://snomed.info/sct' };
      const system = bar < 0 ? undefined : (alias[value.slice(0, bar)] ?? value.slice(0, bar));
      const code = bar < 0 ? value : value.slice(bar + 1);
      const hit = values.some((v) => tokenPairs(v).some((t) => t.code === code && (system === undefined || (system === '' ? t.system === undefined : t.system === system))));
      return op === 'ne' ? !hit : hit;
    }
    case 'reference': {
      // search.html#reference: `Type/id` of a local literal reference; README: `ne` is `not (… eq …)`
      const hit = values.some((v) => localReference(v.value?.reference, baseUrl) === value);
      return op === 'ne' ? !hit : hit;
    }
    case 'date': {
      const target = dateRange(value)!;
      return anyOf(values.flatMap((v) => dates(v)).map((r) => datePrefixMatches(op, r, target, now)));
    }
    case 'uri': {
      // search.html#uri: the exact value; `ss` :below (the stored uri is the value or under it, by path
      // segment), `sb` :above (the value is the stored uri or under it); README: `ne` is `not (… eq …)`
      const under = (x: string, base: string) => x === base || x.startsWith(base.endsWith('/') ? base : `${base}/`);
      const uris = values.map((v) => v.value).filter((x): x is string => typeof x === 'string');
      const hit = uris.some((u) => (op === 'ss' ? under(u, value) : op === 'sb' ? under(value, u) : u === value));
      return op === 'ne' ? !hit : hit;
    }
    case 'quantity':
    case 'number':
      // search.html#number / #quantity: a value without a unit compares the number whatever the unit
      return entries(values).some((e) => prefixMatches(op as Prefix, e, value));
  }
  throw new Error(`${ptype} ${op}`);
}

/** A boolean expression of leaves: a test, `not (x)`, `(x)`, or a left-to-right run `x op y op z`. */
export type Expr =
  | { kind: 'leaf'; text: string; hits: Set<string>; unsure: boolean; label: string }
  | { kind: 'not'; inner: Expr }
  | { kind: 'paren'; inner: Expr }
  | { kind: 'run'; first: Expr; rest: { op: 'and' | 'or'; term: Expr }[] };

export function render(e: Expr): string {
  switch (e.kind) {
    case 'leaf':
      return e.text;
    case 'not':
      return `not (${render(e.inner)})`;
    case 'paren':
      return `(${render(e.inner)})`;
    case 'run':
      return [render(e.first), ...e.rest.map((r) => `${r.op} ${render(r.term)}`)].join(' ');
  }
}

/**
 * search_filter.html#logical: "there is no precedence between the operators": a run is folded left to
 * right (`a or b and c` is `(a or b) and c`); `not (x)` is the complement within the type's resources.
 */
export function evalExpr(e: Expr, all: Set<string>): Set<string> {
  switch (e.kind) {
    case 'leaf':
      return e.hits;
    case 'not': {
      const inner = evalExpr(e.inner, all);
      return new Set([...all].filter((k) => !inner.has(k)));
    }
    case 'paren':
      return evalExpr(e.inner, all);
    case 'run': {
      let acc = evalExpr(e.first, all);
      for (const { op, term } of e.rest) {
        const x = evalExpr(term, all);
        acc = op === 'and' ? new Set([...acc].filter((k) => x.has(k))) : new Set([...acc, ...x]);
      }
      return acc;
    }
  }
}

export const unsure = (e: Expr): boolean => (e.kind === 'leaf' ? e.unsure : e.kind === 'run' ? unsure(e.first) || e.rest.some((r) => unsure(r.term)) : unsure(e.inner));

export { paramsOf };
export type { Param };

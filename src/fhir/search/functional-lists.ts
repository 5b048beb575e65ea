/**
 * Functional lists (search.html#list, list.html "Current Resource Lists"): `_list=$current-allergies`
 * names the patient's current list of that function, not a List id. This server keeps them as
 * curated List resources: a List with status `current`, a code saying its function, and the patient
 * as its subject. The matches are the items of such Lists (of the patient the search names, when it
 * names one), searched as `_has:List:item:…` is: under the caller's restriction on List too.
 */
interface FunctionalList {
  /** List.code values (system|code) that give a List this function */
  codes: string[];
  /** a further criterion on the items, on the one type it applies to (drug allergies among the allergies) */
  items?: { type: string; pairs: [string, string][] };
}

const USE = 'http://terminology.hl7.org/CodeSystem/list-example-use-codes';
const LOINC = 'http://loinc.org';
const ALLERGIES = [`${LOINC}|48765-2`, `${LOINC}|52472-8`, `${USE}|allergies`];

const FUNCTIONAL_LISTS: Record<string, FunctionalList> = {
  // LOINC 11450-4 Problem list - Reported
  '$current-problems': { codes: [`${LOINC}|11450-4`, `${USE}|problems`] },
  // LOINC 10160-0 History of medication use, 52471-0 Medications
  '$current-medications': { codes: [`${LOINC}|10160-0`, `${LOINC}|52471-0`, `${USE}|medications`] },
  // LOINC 48765-2 Allergies and adverse reactions, 52472-8 Allergies and adverse drug reactions (R4 List/current-allergies)
  '$current-allergies': { codes: ALLERGIES },
  '$current-drug-allergies': { codes: ALLERGIES, items: { type: 'AllergyIntolerance', pairs: [['category', 'medication']] } },
};

export const FUNCTIONAL_LIST_NAMES = Object.keys(FUNCTIONAL_LISTS);

/** The List search parameters that select the Lists of a functional list; undefined for an unknown name. */
export function functionalList(name: string, patients: string[]): { listPairs: [string, string][]; items?: FunctionalList['items'] } | undefined {
  const f = FUNCTIONAL_LISTS[name];
  if (!f) return undefined;
  const listPairs: [string, string][] = [
    ['code', f.codes.join(',')],
    ['status', 'current'],
  ];
  if (patients.length) listPairs.push(['patient', patients.map((id) => `Patient/${id}`).join(',')]);
  return { listPairs, items: f.items };
}

/**
 * The Patients a search names (`patient=`, `subject=Patient/…`): whose functional list is meant.
 * Undefined when it names none, or a value that is not a plain Patient reference (a chain, a modifier).
 */
export function searchedPatients(params: [string, string][], baseUrl: string): string[] | undefined {
  const out: string[] = [];
  for (const [name, value] of params) {
    if (name !== 'patient' && name !== 'subject' && name !== 'patient:Patient' && name !== 'subject:Patient') continue;
    for (const v of value.split(',')) {
      const local = v.startsWith(`${baseUrl}/`) ? v.slice(baseUrl.length + 1) : v;
      const m = /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(local);
      if (!m || (name.startsWith('subject') && !name.endsWith(':Patient') && !local.startsWith('Patient/'))) return undefined;
      out.push(m[1]);
    }
  }
  return out.length ? [...new Set(out)] : undefined;
}

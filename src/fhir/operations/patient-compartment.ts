import type { SearchRestriction } from '../search/search.service';

type Criteria = [string, string][][];

/** Both criteria must hold: every alternative of one combined with every alternative of the other. */
function both(a: Criteria, b: Criteria): Criteria {
  if (!a.length) return b;
  if (!b.length) return a;
  return a.flatMap((x) => b.map((y) => [...x, ...y]));
}

/**
 * A SearchRestriction that keeps matches inside the compartment of these focal resources (the internal
 * `_compartment` criterion, R4 CompartmentDefinition; the Patient compartment unless another is named)
 * and inside what the token allows.
 */
export function compartmentRestriction(ids: string[], token?: SearchRestriction, compartment = 'Patient'): SearchRestriction {
  const member: Criteria = [[['_compartment', ids.map((id) => `${compartment}/${id}`).join(',')]]];
  return {
    criteriaFor(resourceType: string) {
      const allowed = token ? token.criteriaFor(resourceType) : [];
      return allowed === false ? false : both(allowed, member);
    },
  };
}

/** References to these types inside stored JSON text (relative, or absolute under our base). */
export function referencesIn(json: string, types: string[], baseUrl: string): { resourceType: string; id: string }[] {
  const found: { resourceType: string; id: string }[] = [];
  const re = /"reference":"([^"]+)"/g;
  for (let m = re.exec(json); m; m = re.exec(json)) {
    const ref = m[1].startsWith(baseUrl + '/') ? m[1].slice(baseUrl.length + 1) : m[1];
    const parts = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/.exec(ref);
    if (parts && types.includes(parts[1])) found.push({ resourceType: parts[1], id: parts[2] });
  }
  return found;
}

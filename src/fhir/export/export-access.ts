import type { AuthContext } from '../../auth/auth-context';
import { FhirError } from '../errors';
import type { Criteria } from './export.types';

/**
 * Bulk Data is for backend services: the token's `system/` scopes decide
 * which types may be exported. Exporting enumerates every resource of a
 * type, i.e. a search: it needs search permission (`s`, v1 `.read`) on each
 * type, as `GET [type]` does (`system/Patient.r` alone reads Patients by id
 * but neither lists nor exports them; SMART scopes-and-launch-context). A granular
 * scope (`system/Observation.rs?category=laboratory`) narrows its type like a
 * `_typeFilter`. Returns, per allowed type, the criteria alternatives
 * ([] = the whole type); undefined auth (internal, auth off) and admins are
 * unrestricted.
 */
export function exportScopes(auth: AuthContext | undefined): ((type: string) => Criteria | false) | undefined {
  if (!auth || auth.admin) return undefined;
  const rules = auth.rules.filter((r) => r.context === 'system' && r.interactions.has('s'));
  if (!rules.length) {
    throw FhirError.of(403, 'forbidden', 'Bulk Data export needs a backend-services token with system/ search scopes');
  }
  return (type) => {
    const own = rules.filter((r) => r.resourceType === '*' || r.resourceType === type);
    if (!own.length) return false;
    if (own.some((r) => r.filter.length === 0)) return [];
    return own.map((r) => r.filter);
  };
}

/** Both criteria must hold: every alternative of one AND every alternative of the other. */
export function combine(a: Criteria, b: Criteria): Criteria {
  if (!a.length) return b;
  if (!b.length) return a;
  return a.flatMap((x) => b.map((y) => [...x, ...y]));
}

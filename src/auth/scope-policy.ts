import type { Resource } from 'fhir/r4';
import type { SearchRestriction } from '../fhir/search/search.service';
import type { AuthContext, ScopeRule } from './auth-context';
import type { CompartmentChecker } from './compartment';
import { parseScopes, type Interaction } from './scopes';

/**
 * Types outside the Patient compartment that hold no patient data
 * (directory, medication, conformance and knowledge resources): patient
 * scopes may read and search them, so an app can show who performed an
 * Observation. Every other type outside the compartment (Binary, Bundle,
 * Device, Linkage, …) is out of reach of patient scopes.
 */
export const SHARED_TYPES = new Set([
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'OrganizationAffiliation',
  'Location',
  'HealthcareService',
  'Endpoint',
  'Medication',
  'MedicationKnowledge',
  'Substance',
  'DeviceDefinition',
  'InsurancePlan',
  'ValueSet',
  'CodeSystem',
  'ConceptMap',
  'NamingSystem',
  'StructureDefinition',
  'SearchParameter',
  'OperationDefinition',
  'CapabilityStatement',
  'CompartmentDefinition',
  'ImplementationGuide',
  'Questionnaire',
  'ObservationDefinition',
  'SpecimenDefinition',
  'ActivityDefinition',
  'PlanDefinition',
  'Library',
  'Measure',
]);

/**
 * Does a token of a user with the admin role carry admin powers? Only with
 * the full, unfiltered wildcard scope `user/*.cruds` (v1 `user/*.*`), which
 * the consent page shows as access to every record: a token granted less
 * (`openid`, `user/Patient.r`, patient scopes) is bounded by its scopes like
 * anyone's (SMART App Launch: the scopes delegate a subset of the user's
 * permissions, and the resource server checks them on every request).
 */
export function adminPowers(adminRole: boolean, rules: ScopeRule[]): boolean {
  return (
    adminRole &&
    rules.some((r) => r.context === 'user' && r.resourceType === '*' && r.interactions.size === 5 && !r.filter.length)
  );
}

/** Who a token (or a Subscription's recorded writer) acts for, with its granted scope string. */
export type GrantedAccess = Omit<AuthContext, 'scopes' | 'rules' | 'admin' | 'adminRole'> & { scope: string; adminRole: boolean };

/**
 * The AuthContext of a grant, as the resource server evaluates a request:
 * the scopes the server understands, their rules, the admin role and admin
 * powers derived from both (`adminPowers`). Access tokens and Subscription
 * owners are both built here, so a Subscription's notifications are bounded
 * exactly as a request with its writer's token would be.
 */
export function grantedContext(g: GrantedAccess, isResourceType: (t: string) => boolean): AuthContext {
  const { scope, ...who } = g;
  const parsed = parseScopes(scope, isResourceType);
  return { ...who, scopes: parsed.scopes, rules: parsed.rules, admin: adminPowers(g.adminRole, parsed.rules) };
}

/** Criteria alternatives (OR of ANDs); [] = unrestricted; false = not allowed. */
export type Criteria = [string, string][][] | false;

/**
 * The patient whose compartment bounds a rule: the launch patient for
 * `patient/` rules, the signed-in patient for `user/` rules of a patient
 * user. `null`: not bounded (system rules, practitioner users, users with
 * the admin role and no fhirUser). `false`:
 * the rule grants nothing (patient rule without patient context, user rule
 * without a user the server can act for).
 */
export function ruleBound(auth: AuthContext, rule: ScopeRule): string | null | false {
  if (rule.context === 'system') return null;
  if (rule.context === 'patient') return auth.patient ?? false;
  const [type, id] = (auth.fhirUser ?? '').split('/');
  if (type === 'Patient' && id) return id;
  if (type === 'Practitioner' || type === 'PractitionerRole') return null;
  if (!auth.fhirUser && auth.adminRole) return null;
  return false;
}

/** The rules of the token that grant `interaction` on `resourceType`. */
export function rulesFor(auth: AuthContext, resourceType: string, interactions: Interaction[]): ScopeRule[] {
  return auth.rules.filter(
    (r) => (r.resourceType === '*' || r.resourceType === resourceType) && interactions.some((i) => r.interactions.has(i)),
  );
}

/**
 * What the token allows on a type for these interactions, as search
 * criteria: the patient compartment (`_compartment=Patient/x`, plus `_id`
 * for the Patient itself) and the granular filter of each rule.
 */
export function criteriaFor(
  auth: AuthContext,
  resourceType: string,
  interactions: Interaction[],
  compartments: CompartmentChecker,
): Criteria {
  if (auth.admin) return [];
  const alternatives: [string, string][][] = [];
  for (const rule of rulesFor(auth, resourceType, interactions)) {
    const patient = ruleBound(auth, rule);
    if (patient === false) continue;
    if (patient === null) {
      alternatives.push(rule.filter);
    } else if (compartments.isPatientCompartmentType(resourceType)) {
      if (resourceType === 'Patient') alternatives.push([['_id', patient], ...rule.filter]);
      alternatives.push([['_compartment', `Patient/${patient}`], ...rule.filter]);
    } else if (SHARED_TYPES.has(resourceType) && interactions.every((i) => i === 'r' || i === 's')) {
      alternatives.push(rule.filter);
    }
  }
  if (!alternatives.length) return false;
  if (alternatives.some((a) => a.length === 0)) return [];
  return alternatives;
}

/**
 * The SearchRestriction a search applies for this token (matches,
 * _include/_revinclude, chains, _has): read or search permission per type.
 * Undefined for internal calls and admins (unrestricted).
 */
export function searchRestriction(auth: AuthContext | undefined, compartments: CompartmentChecker): SearchRestriction | undefined {
  if (!auth || auth.admin) return undefined;
  const cache = new Map<string, Criteria>();
  return {
    criteriaFor(resourceType: string) {
      let c = cache.get(resourceType);
      if (c === undefined) {
        c = criteriaFor(auth, resourceType, ['r', 's'], compartments);
        cache.set(resourceType, c);
      }
      return c;
    },
  };
}

/**
 * May the token write this resource body (create, or the new content of an
 * update)? Some rule granting the interaction must hold for the body: its
 * patient compartment and its filter, checked in memory.
 */
export function bodyAllowed(
  auth: AuthContext,
  resource: Resource,
  interaction: Interaction,
  compartments: CompartmentChecker,
): boolean {
  if (auth.admin) return true;
  return rulesFor(auth, resource.resourceType, [interaction]).some((rule) => {
    const patient = ruleBound(auth, rule);
    if (patient === false) return false;
    if (patient !== null) {
      // reading: one reference into the compartment is enough; writing: no other patient's compartment either
      const reading = interaction === 'r' || interaction === 's';
      const inside = reading ? compartments.inPatientCompartment(resource, patient) : compartments.onlyInPatientCompartment(resource, patient);
      if (!inside) return false;
    }
    return !rule.filter.length || compartments.matchesFilter(resource, rule.filter);
  });
}

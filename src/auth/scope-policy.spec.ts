import { loadDefinitions } from '../fhir/definitions/definitions';
import type { AuthContext } from './auth-context';
import { CompartmentChecker } from './compartment';
import { criteriaFor, searchRestriction } from './scope-policy';
import { parseScopes } from './scopes';

const checker = new CompartmentChecker(loadDefinitions(), 'http://localhost/fhir');
const auth = (scope: string, extra: Partial<AuthContext> = {}): AuthContext => {
  const p = parseScopes(scope);
  return { clientId: 'c', scopes: p.scopes, rules: p.rules, admin: false, ...extra };
};

// SMART App Launch 2.0: patient/ = the patient in context, user/ = what the user may access, system/ = the client
describe('scope policy as search criteria', () => {
  it('patient scopes bound compartment types to the patient (Patient itself by _id too)', () => {
    const a = auth('patient/*.rs', { patient: 'alice' });
    expect(criteriaFor(a, 'Observation', ['s'], checker)).toEqual([[['_compartment', 'Patient/alice']]]);
    expect(criteriaFor(a, 'Patient', ['r'], checker)).toEqual([[['_id', 'alice']], [['_compartment', 'Patient/alice']]]);
  });

  it('patient scopes read shared directory types, never other types outside the compartment, never write them', () => {
    const a = auth('patient/*.cruds', { patient: 'alice' });
    expect(criteriaFor(a, 'Practitioner', ['r'], checker)).toEqual([]);
    expect(criteriaFor(a, 'Practitioner', ['c'], checker)).toBe(false);
    expect(criteriaFor(a, 'Binary', ['r'], checker)).toBe(false);
    expect(criteriaFor(a, 'Bundle', ['s'], checker)).toBe(false);
  });

  it('a patient rule without a patient grants nothing', () => {
    expect(criteriaFor(auth('patient/*.rs'), 'Observation', ['r'], checker)).toBe(false);
  });

  it('granular filters become AND criteria; alternatives OR; any unbounded rule wins', () => {
    const a = auth('patient/Observation.rs?category=vital-signs patient/Observation.rs?category=laboratory', { patient: 'p' });
    expect(criteriaFor(a, 'Observation', ['s'], checker)).toEqual([
      [['_compartment', 'Patient/p'], ['category', 'vital-signs']],
      [['_compartment', 'Patient/p'], ['category', 'laboratory']],
    ]);
    const s = auth('system/Observation.rs?category=laboratory system/Observation.rs');
    expect(criteriaFor(s, 'Observation', ['r'], checker)).toEqual([]);
  });

  it('user scopes: practitioner unbounded, patient user bounded to self, unknown user nothing', () => {
    expect(criteriaFor(auth('user/*.rs', { fhirUser: 'Practitioner/x' }), 'Observation', ['r'], checker)).toEqual([]);
    expect(criteriaFor(auth('user/*.rs', { fhirUser: 'Patient/alice' }), 'Observation', ['r'], checker)).toEqual([
      [['_compartment', 'Patient/alice']],
    ]);
    expect(criteriaFor(auth('user/*.rs'), 'Observation', ['r'], checker)).toBe(false);
  });

  it('interactions and types not granted are refused; admin is unrestricted', () => {
    const a = auth('system/Observation.rs');
    expect(criteriaFor(a, 'Observation', ['c'], checker)).toBe(false);
    expect(criteriaFor(a, 'Condition', ['r'], checker)).toBe(false);
    expect(criteriaFor(auth('', { admin: true }), 'Condition', ['d'], checker)).toEqual([]);
    expect(searchRestriction(auth('', { admin: true }), checker)).toBeUndefined();
    expect(searchRestriction(a, checker)!.criteriaFor('Condition')).toBe(false);
  });
});

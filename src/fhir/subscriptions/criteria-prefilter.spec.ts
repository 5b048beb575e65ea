import { loadDefinitions } from '../definitions/definitions';
import { criteriaPrefilter } from './criteria-prefilter';

const defs = loadDefinitions();
const params = (type: string) =>
  defs.searchParameters.filter((sp) => sp.base.includes(type) || sp.base.includes('Resource') || sp.base.includes('DomainResource'));

const heartRate = (patient: string) =>
  JSON.stringify({
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: `Patient/${patient}` },
    valueQuantity: { value: 72 },
  });

// the pre-check may only say "cannot match" when search.html semantics could not match either
describe('criteriaPrefilter', () => {
  it('passes a resource that matches the criteria (reference and token, with and without system / type)', () => {
    for (const criteria of [
      [['code', 'http://loinc.org|8867-4'], ['patient', 'Patient/p1']],
      [['code', '8867-4'], ['subject', 'p1']],
      [['code', '|8867-4'], ['patient', 'http://localhost:8080/fhir/Patient/p1']],
      [['code', '1234-5,8867-4']],
    ] as [string, string][][]) {
      expect(criteriaPrefilter(criteria, params('Observation'))(heartRate('p1'))).toBe(true);
    }
  });

  it('rules out another patient\'s or another code\'s Observation', () => {
    const f = criteriaPrefilter([['code', 'http://loinc.org|8867-4'], ['patient', 'Patient/p1']], params('Observation'));
    expect(f(heartRate('p2'))).toBe(false);
    const other = heartRate('p1').replace('8867-4', '59408-5');
    expect(f(other)).toBe(false);
  });

  it('leaves unchecked what text containment cannot decide: modifiers, chains, other types, system-only tokens', () => {
    for (const criteria of [
      [['code:not', '8867-4']],
      [['subject.name', 'Smith']],
      [['date', 'ge2024-01-01']],
      [['value-quantity', 'gt100']],
      [['code', 'http://loinc.org|']],
      [['_id', 'nope']],
    ] as [string, string][][]) {
      expect(criteriaPrefilter(criteria, params('Observation'))(heartRate('p2'))).toBe(true);
    }
  });
});

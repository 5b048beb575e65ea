import type { Resource } from 'fhir/r4';
import { loadDefinitions } from '../fhir/definitions/definitions';
import { CompartmentChecker, tokenMatches } from './compartment';

const base = 'https://fhir.example.org/fhir';
const checker = new CompartmentChecker(loadDefinitions(), base);

// R4 CompartmentDefinition-patient: a resource is in Patient/x's compartment when a listed parameter refers to it
describe('Patient compartment membership (compartmentdefinition-patient)', () => {
  const obs = (subject: string, performer?: string): Resource =>
    ({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: subject },
      performer: performer ? [{ reference: performer }] : undefined,
    }) as Resource;

  it('follows the compartment parameters (subject, performer), relative or absolute references', () => {
    expect(checker.inPatientCompartment(obs('Patient/alice'), 'alice')).toBe(true);
    expect(checker.inPatientCompartment(obs(`${base}/Patient/alice`), 'alice')).toBe(true);
    expect(checker.inPatientCompartment(obs('Patient/alice/_history/2'), 'alice')).toBe(true);
    expect(checker.inPatientCompartment(obs('Patient/bob'), 'alice')).toBe(false);
    expect(checker.inPatientCompartment(obs('Patient/bob', 'Patient/alice'), 'alice')).toBe(true);
    expect(checker.inPatientCompartment(obs('https://elsewhere.example/fhir/Patient/alice'), 'alice')).toBe(false);
    expect(checker.inPatientCompartment(obs('Patient/alice-x'), 'alice')).toBe(false);
  });

  it('a write must stay inside the one compartment: no compartment parameter naming another local Patient', () => {
    expect(checker.onlyInPatientCompartment(obs('Patient/alice', 'Patient/alice'), 'alice')).toBe(true);
    expect(checker.onlyInPatientCompartment(obs('Patient/alice', 'Practitioner/p1'), 'alice')).toBe(true);
    expect(checker.onlyInPatientCompartment(obs('Patient/alice', 'Patient/carol'), 'alice')).toBe(false);
    expect(checker.onlyInPatientCompartment(obs('Patient/alice', `${base}/Patient/carol`), 'alice')).toBe(false);
    expect(checker.onlyInPatientCompartment(obs('Patient/carol', 'Patient/alice'), 'alice')).toBe(false);
    // a Patient on another server puts nothing in a local compartment
    expect(checker.onlyInPatientCompartment(obs('Patient/alice', 'https://elsewhere.example/fhir/Patient/carol'), 'alice')).toBe(true);
    const group = { resourceType: 'Group', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/alice' } }, { entity: { reference: 'Patient/carol' } }] } as Resource;
    expect(checker.onlyInPatientCompartment(group, 'alice')).toBe(false);
    const linked = { resourceType: 'Patient', id: 'carol', link: [{ other: { reference: 'Patient/alice' }, type: 'seealso' }] } as Resource;
    expect(checker.onlyInPatientCompartment(linked, 'alice')).toBe(false);
  });

  it('uses parameters whose expressions call resolve() (Task.patient = Task.for)', () => {
    const task = { resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: 'Patient/alice' } } as Resource;
    expect(checker.inPatientCompartment(task, 'alice')).toBe(true);
  });

  it('the patient itself belongs; types outside the compartment never do', () => {
    expect(checker.inPatientCompartment({ resourceType: 'Patient', id: 'alice' } as Resource, 'alice')).toBe(true);
    expect(checker.inPatientCompartment({ resourceType: 'Patient', id: 'bob' } as Resource, 'alice')).toBe(false);
    expect(checker.isPatientCompartmentType('Observation')).toBe(true);
    expect(checker.isPatientCompartmentType('Practitioner')).toBe(false);
    expect(checker.isPatientCompartmentType('Binary')).toBe(false);
  });

  it('checks token filters in memory and refuses what it cannot check', () => {
    const o = {
      resourceType: 'Observation',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      status: 'final',
    } as Resource;
    expect(checker.matchesFilter(o, [['category', 'vital-signs']])).toBe(true);
    expect(checker.matchesFilter(o, [['category', 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs']])).toBe(true);
    expect(checker.matchesFilter(o, [['category', 'laboratory,vital-signs']])).toBe(true);
    expect(checker.matchesFilter(o, [['category', 'laboratory']])).toBe(false);
    expect(checker.matchesFilter(o, [['status', 'final']])).toBe(true);
    expect(checker.matchesFilter(o, [['category:not', 'laboratory']])).toBe(false);
    expect(checker.matchesFilter(o, [['date', 'ge2020']])).toBe(false);
  });
});

// search.html#token
describe('token matching', () => {
  it('code, system|code, |code, system|', () => {
    const coding = { system: 's', code: 'c' };
    expect(tokenMatches(coding, 'c')).toBe(true);
    expect(tokenMatches(coding, 's|c')).toBe(true);
    expect(tokenMatches(coding, 'x|c')).toBe(false);
    expect(tokenMatches(coding, '|c')).toBe(false);
    expect(tokenMatches({ code: 'c' }, '|c')).toBe(true);
    expect(tokenMatches(coding, 's|')).toBe(true);
    expect(tokenMatches({ system: 'id-sys', value: '42' }, 'id-sys|42')).toBe(true);
    expect(tokenMatches('final', 'final')).toBe(true);
    expect(tokenMatches(true, 'true')).toBe(true);
  });
});

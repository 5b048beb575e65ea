import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

// What is "a value for the parameter" (search.html#modifiers `:missing`), decided with the R4 examples
// (r4-examples-modifiers.e2e-spec.ts), and token `:in` on `code` elements (search.html#token):
// - a reference to a contained resource (`#id`, references.html#contained) is a value, also of an alias
//   by target type when the contained resource is of that type (FHIRPath resolve() finds it); so is a
//   resource itself (R4 Bundle `composition` = Bundle.entry[0].resource). A Reference holding only a
//   `display` refers to nothing no search of the parameter reads: missing.
// - an Identifier without a value has its system (`identifier=[system]|`) and type text (`:text`).
// - a composite has a value when one element holds every component as its value search reads them: a
//   token component needs a code (`code$value`), a concept with only a text gives none.
// - a `code` element has no system of its own, the binding's is implicit: `:in` takes it by its code.
describe('values of a parameter: :missing, :in on code elements (search.html#modifiers, #token, #composite)', () => {
  let t: TestApp;
  const o: Record<string, string> = {};
  const observation = (key: string, extra: Record<string, unknown>) =>
    create(t, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...extra }).then((id) => (o[key] = id));
  beforeAll(async () => {
    t = await startTestApp();
    await observation('contained', { contained: [{ resourceType: 'Patient', id: 'p' }], subject: { reference: '#p' } });
    await observation('containedGroup', { contained: [{ resourceType: 'Group', id: 'g', type: 'person', actual: false }], subject: { reference: '#g' } });
    await observation('display', { subject: { display: 'Sonoma oyster farm' } });
    await observation('coded', { code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, valueString: 'blue', subject: { reference: 'Patient/x' } });
    await observation('textOnly', { code: { text: 'eye color' }, valueString: 'blue' });
    o.document = await create(t, { resourceType: 'Bundle', type: 'document', entry: [{ fullUrl: 'urn:uuid:1', resource: { resourceType: 'Composition', status: 'final', type: { text: 'x' }, date: '2020', author: [{ display: 'a' }], title: 't' } }] });
    o.collection = await create(t, { resourceType: 'Bundle', type: 'collection' });
    o.bsn = await create(t, { resourceType: 'RelatedPerson', patient: { reference: 'Patient/x' }, identifier: [{ system: 'urn:oid:2.16.840.1.113883.2.4.6.3', type: { text: 'BSN' } }] });
    o.female = await create(t, { resourceType: 'Patient', gender: 'female' });
    o.nogender = await create(t, { resourceType: 'Patient' });
  });
  afterAll(async () => t.close());

  it(':missing on a reference: a contained resource\'s #id is a value, a display-only Reference is not', async () => {
    expect(await ids(t, 'Observation?subject:missing=false')).toEqual(sorted([o.contained, o.containedGroup, o.coded]));
    expect(await ids(t, 'Observation?subject:missing=true')).toEqual(sorted([o.display, o.textOnly]));
    // `patient` is `subject.where(resolve() is Patient)`: the contained Group is no Patient
    expect(await ids(t, 'Observation?patient:missing=false')).toEqual(sorted([o.contained, o.coded]));
    expect(await ids(t, 'Bundle?composition:missing=false')).toEqual([o.document]);
    expect(await ids(t, 'Bundle?composition:missing=true')).toEqual([o.collection]);
  });

  it('an Identifier without a value is found by its system and type text', async () => {
    expect(await ids(t, 'RelatedPerson?identifier:missing=false')).toEqual([o.bsn]);
    expect(await ids(t, 'RelatedPerson?identifier=urn:oid:2.16.840.1.113883.2.4.6.3|')).toEqual([o.bsn]);
    expect(await ids(t, 'RelatedPerson?identifier:text=bsn')).toEqual([o.bsn]);
  });

  it(':missing on a composite: a token component needs a code', async () => {
    expect(await ids(t, 'Observation?code-value-string:missing=false')).toEqual([o.coded]);
    expect(await ids(t, 'Observation?code-value-string=http://loinc.org|8867-4$blue')).toEqual([o.coded]);
    expect((await ids(t, 'Observation?code-value-string:missing=true')).includes(o.textOnly)).toBe(true);
  });

  it(':in / :not-in on a code element (Patient.gender, bound to administrative-gender)', async () => {
    expect(await ids(t, 'Patient?gender:in=http://hl7.org/fhir/ValueSet/administrative-gender')).toEqual([o.female]);
    expect(await ids(t, 'Patient?gender:not-in=http://hl7.org/fhir/ValueSet/administrative-gender')).toEqual([o.nogender]);
    expect(await ids(t, 'Patient?gender:in=http://hl7.org/fhir/ValueSet/observation-status')).toEqual([]);
  });
});

import { conditionKey, conditionParams, parseConditionalReference, parseQuery } from './conditions';

// R4 http.html §3.1.0.8 conditional create (If-None-Exist), §3.1.0.11.2 conditional references
describe('conditions', () => {
  it('parses If-None-Exist values with or without ? or a type prefix', () => {
    expect(parseQuery('identifier=http://x|1')).toEqual([['identifier', 'http://x|1']]);
    expect(parseQuery('?identifier=a&active=true')).toEqual([
      ['identifier', 'a'],
      ['active', 'true'],
    ]);
    expect(parseQuery('Patient?identifier=a%7Cb')).toEqual([['identifier', 'a|b']]);
  });

  it('normalizes a condition: parameter order does not matter, the type does', () => {
    const a = conditionKey('Patient', [['identifier', 'a|1'], ['active', 'true']]);
    const b = conditionKey('Patient', [['active', 'true'], ['identifier', 'a|1']]);
    expect(a).toBe(b);
    expect(conditionKey('Practitioner', [['identifier', 'a|1']])).not.toBe(conditionKey('Patient', [['identifier', 'a|1']]));
    expect(conditionKey('Patient', [['identifier', 'a|1']])).not.toBe(conditionKey('Patient', [['identifier', 'a|2']]));
  });

  it('drops result parameters from conditions', () => {
    expect(conditionParams([['_format', 'json'], ['name', 'x'], ['_count', '1']])).toEqual([['name', 'x']]);
  });

  it('recognizes conditional references only', () => {
    expect(parseConditionalReference('Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999999989')).toEqual({
      resourceType: 'Practitioner',
      params: [['identifier', 'http://hl7.org/fhir/sid/us-npi|9999999989']],
    });
    expect(parseConditionalReference('Patient/1')).toBeUndefined();
    expect(parseConditionalReference('http://x.org/fhir/Patient?x=1')).toBeUndefined();
    expect(parseConditionalReference('urn:uuid:1')).toBeUndefined();
  });
});

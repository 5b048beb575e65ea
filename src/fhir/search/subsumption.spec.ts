import type { CodeSystem } from 'fhir/r4';
import { Hierarchy, subsumptionValues } from './subsumption';

// search.html#token :above / :below: is-a subsumption within a CodeSystem, the code itself included
describe('CodeSystem hierarchy (token :above/:below)', () => {
  const cs: CodeSystem = {
    resourceType: 'CodeSystem',
    status: 'active',
    content: 'complete',
    property: [{ code: 'subsumedBy', uri: 'http://hl7.org/fhir/concept-properties#parent', type: 'code' }],
    concept: [
      {
        code: 'animal',
        concept: [
          { code: 'mammal', concept: [{ code: 'dog' }, { code: 'cat' }] },
          { code: 'bird' },
        ],
      },
      // a second parent through the declared parent property (a poly-hierarchy)
      { code: 'pet', concept: [{ code: 'parrot', property: [{ code: 'subsumedBy', valueCode: 'bird' }] }] },
      { code: 'kitten', property: [{ code: 'parent', valueCode: 'cat' }] },
    ],
  };
  const h = new Hierarchy(cs);

  it(':below is the code and everything it subsumes', () => {
    expect(h.closure('mammal', 'below').sort()).toEqual(['cat', 'dog', 'kitten', 'mammal']);
    expect(h.closure('bird', 'below').sort()).toEqual(['bird', 'parrot']);
    expect(h.closure('dog', 'below')).toEqual(['dog']);
  });

  it(':above is the code and everything that subsumes it', () => {
    expect(h.closure('kitten', 'above').sort()).toEqual(['animal', 'cat', 'kitten', 'mammal']);
    expect(h.closure('parrot', 'above').sort()).toEqual(['animal', 'bird', 'parrot', 'pet']);
    expect(h.has('fish')).toBe(false);
  });

  it('finds :above/:below values inside chains and _has', () => {
    const value = { raw: 's|c', token: { system: 's', code: 'c' } };
    const param = { kind: 'param' as const, code: 'code', type: 'token', defs: new Map(), modifier: 'below', values: [value] };
    expect(subsumptionValues([{ kind: 'chain', code: 'subject', targets: ['Patient'], inner: { kind: 'has', sourceType: 'Observation', refCode: 'subject', inner: param } }])).toEqual([{ value, direction: 'below' }]);
    expect(subsumptionValues([{ ...param, modifier: 'in' }])).toEqual([]);
  });
});

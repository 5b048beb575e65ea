import { loadDefinitions } from '../definitions/definitions';
import { elementTypes } from './reference-kinds';
import { SearchParameterRegistry } from './search-params';

// search.html#chaining: a chain, `_has` and `_include` follow a canonical only through parameters whose
// elements may hold one (references.html#canonical); the datatype comes from the R4 StructureDefinitions
describe('reference parameter kinds from the element datatypes (search.html#chaining)', () => {
  const defs = loadDefinitions();
  const registry = new SearchParameterRegistry(defs);

  it('search.html#chaining: canonical elements', () => {
    expect(registry.referenceKind('QuestionnaireResponse', 'questionnaire')).toBe('canonical');
    expect(registry.referenceKind('CarePlan', 'instantiates-canonical')).toBe('canonical');
    // a datatype's own element behind where(…), united with a canonical of the resource
    expect(registry.referenceKind('PlanDefinition', 'depends-on')).toBe('canonical');
    // a backbone path into the snapshot's nested elements
    expect(registry.referenceKind('StructureDefinition', 'valueset')).toBe('canonical');
  });

  it('search.html#chaining: Reference elements, also to canonical types', () => {
    expect(registry.referenceKind('Flag', 'subject')).toBe('reference');
    expect(registry.referenceKind('Provenance', 'target')).toBe('reference');
    expect(registry.referenceKind('ResearchStudy', 'protocol')).toBe('reference');
    expect(registry.referenceKind('List', 'item')).toBe('reference');
    // an alias over `subject` restricted to Patient
    expect(registry.referenceKind('Flag', 'patient')).toBe('reference');
  });

  it('search.html#chaining: choice elements', () => {
    // (MedicationRequest.medication as Reference): CodeableConcept or Reference, the Reference taken
    expect(elementTypes(defs, 'MedicationRequest', '(MedicationRequest.medication as Reference)')).toEqual(['Reference']);
    expect(registry.referenceKind('MedicationRequest', 'medication')).toBe('reference');
    expect(registry.referenceKind('ConceptMap', 'source')).toBe('canonical');
    // PlanDefinition.action.definition[x]: canonical or uri
    expect(elementTypes(defs, 'PlanDefinition', 'PlanDefinition.action.definition')).toEqual(['canonical', 'uri']);
    expect(registry.referenceKind('PlanDefinition', 'definition')).toBe('both');
    // Consent.source[x]: Attachment or Reference
    expect(registry.referenceKind('Consent', 'source-reference')).toBe('both');
  });

  it('search.html#chaining: a path not resolved is read both ways', () => {
    // Bundle.entry[0].resource: an indexer, not a path
    expect(elementTypes(defs, 'Bundle', 'Bundle.entry[0].resource')).toBeUndefined();
    expect(registry.referenceKind('Bundle', 'composition')).toBe('both');
    expect(registry.referenceKind('Flag', 'status')).toBeUndefined();
    expect(registry.referenceKind('Flag', 'nope')).toBeUndefined();
  });

  it('search.html#chaining: a custom parameter replaces the kind of the official one', () => {
    const reg = new SearchParameterRegistry(defs);
    expect(reg.referenceKind('Flag', 'subject')).toBe('reference');
    reg.setCustom([{ url: 'http://x/sp', code: 'subject', base: ['Flag'], type: 'reference', expression: "Flag.extension('http://x/e').value" }]);
    expect(reg.referenceKind('Flag', 'subject')).toBe('both');
  });
});

import type { ElementDefinition, StructureDefinition } from 'fhir/r4';
import { loadDefinitions } from '../definitions/definitions';
import { matchesPattern } from './profile-compiler';
import { ProfileRegistry } from './profile-registry';
import { ProfileValidator } from './profile-validator';

/**
 * Profile validation (profiling.html) on a small hand-made profile, so the
 * rules are pinned down independently of any IG: slicing by pattern ($this,
 * path) and by type, closed slicing, fixed values, choice type restriction,
 * required binding to a ValueSet placed beside the profile, target profiles.
 */
const CAT = 'http://terminology.hl7.org/CodeSystem/observation-category';
const el = (id: string, min: number, max: string, extra: Partial<ElementDefinition> = {}): ElementDefinition => ({
  id,
  path: id.replace(/:[^.]+/g, ''),
  min,
  max,
  base: { path: id.replace(/:[^.]+/g, ''), min: 0, max: extra.base?.max ?? '*' },
  ...extra,
});

const profile: StructureDefinition = {
  resourceType: 'StructureDefinition',
  url: 'http://example.org/StructureDefinition/lab-mass',
  name: 'LabMass',
  status: 'active',
  kind: 'resource',
  abstract: false,
  type: 'Observation',
  derivation: 'constraint',
  snapshot: {
    element: [
      el('Observation', 0, '*'),
      el('Observation.status', 1, '1', { type: [{ code: 'code' }], fixedCode: 'final', base: { path: 'Observation.status', min: 1, max: '1' } }),
      el('Observation.category', 1, '*', {
        type: [{ code: 'CodeableConcept' }],
        slicing: { discriminator: [{ type: 'pattern', path: '$this' }], rules: 'open' },
      }),
      el('Observation.category:lab', 1, '1', { type: [{ code: 'CodeableConcept' }], patternCodeableConcept: { coding: [{ system: CAT, code: 'laboratory' }] } }),
      el('Observation.subject', 1, '1', {
        type: [{ code: 'Reference', targetProfile: ['http://hl7.org/fhir/StructureDefinition/Patient'] }],
        base: { path: 'Observation.subject', min: 0, max: '1' },
      }),
      el('Observation.value[x]', 1, '1', {
        type: [{ code: 'Quantity' }],
        slicing: { discriminator: [{ type: 'type', path: '$this' }], rules: 'closed' },
        base: { path: 'Observation.value[x]', min: 0, max: '1' },
      }),
      el('Observation.value[x]:valueQuantity', 0, '1', { type: [{ code: 'Quantity' }], base: { path: 'Observation.value[x]', min: 0, max: '1' } }),
      el('Observation.value[x]:valueQuantity.code', 1, '1', {
        type: [{ code: 'code' }],
        binding: { strength: 'required', valueSet: 'http://example.org/ValueSet/mass-units' },
        base: { path: 'Quantity.code', min: 0, max: '1' },
      }),
      el('Observation.component', 0, '*', {
        type: [{ code: 'BackboneElement' }],
        slicing: { discriminator: [{ type: 'value', path: 'code.coding.code' }], rules: 'closed' },
      }),
      el('Observation.component:a', 0, '1', { type: [{ code: 'BackboneElement' }] }),
      el('Observation.component:a.code', 1, '1', { type: [{ code: 'CodeableConcept' }], base: { path: 'Observation.component.code', min: 1, max: '1' } }),
      el('Observation.component:a.code.coding', 1, '*', { type: [{ code: 'Coding' }] }),
      el('Observation.component:a.code.coding.code', 1, '1', { type: [{ code: 'code' }], fixedCode: 'A', base: { path: 'Coding.code', min: 0, max: '1' } }),
    ],
  },
};

describe('ProfileValidator (hand-made profile)', () => {
  const defs = loadDefinitions();
  const registry = new ProfileRegistry(defs);
  registry.add(profile);
  registry.add({
    resourceType: 'ValueSet',
    url: 'http://example.org/ValueSet/mass-units',
    status: 'active',
    compose: { include: [{ system: 'http://unitsofmeasure.org', concept: [{ code: 'mg' }, { code: 'g' }] }] },
  });
  const validator = new ProfileValidator(registry, (s) => registry.typeOfSuffix(s));
  const compiled = registry.get(profile.url!)!;
  const valid = {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: CAT, code: 'laboratory', display: 'Laboratory' }] }, { text: 'other' }],
    code: { text: 'mass' },
    subject: { reference: 'Patient/1' },
    valueQuantity: { value: 3, system: 'http://unitsofmeasure.org', code: 'mg' },
    component: [{ code: { coding: [{ code: 'A' }] } }],
  };
  const problems = (r: unknown) => validator.validate(r as Record<string, unknown>, compiled, 'Observation').map((i) => [i.code, i.expression?.[0]]);

  it('accepts a conforming instance', () => {
    expect(problems(valid)).toEqual([]);
  });

  it('slice minimum by pattern on $this', () => {
    expect(problems({ ...valid, category: [{ text: 'other' }] })).toEqual([['required', 'Observation.category']]);
  });

  it('fixed value', () => {
    expect(problems({ ...valid, status: 'amended' })).toEqual([['value', 'Observation.status']]);
  });

  it('choice type restriction and the closed type slicing', () => {
    const { valueQuantity: _q, ...rest } = valid;
    expect(problems({ ...rest, valueString: 'x' })).toEqual([
      ['value', 'Observation.value.ofType(string)'],
      ['invariant', 'Observation.value.ofType(string)'],
    ]);
    expect(problems(rest)).toEqual([['required', 'Observation.value']]);
  });

  it('required binding to a ValueSet placed beside the profile, inside a type slice', () => {
    expect(problems({ ...valid, valueQuantity: { value: 3, system: 'http://unitsofmeasure.org', code: 'kg' } })).toEqual([
      ['code-invalid', 'Observation.value.ofType(Quantity).code'],
    ]);
    expect(problems({ ...valid, valueQuantity: { value: 3 } })).toEqual([['required', 'Observation.value.ofType(Quantity).code']]);
  });

  it('target profile restriction', () => {
    expect(problems({ ...valid, subject: { reference: 'Group/1' } })).toEqual([['value', 'Observation.subject.reference']]);
  });

  it('closed slicing by value on a nested path', () => {
    expect(problems({ ...valid, component: [{ code: { coding: [{ code: 'B' }] } }] })).toEqual([['invariant', 'Observation.component[0]']]);
  });

  it('prunes snapshot elements that add nothing to the base', () => {
    expect(compiled.root.children.map((c) => c.id)).toEqual([
      'Observation.status',
      'Observation.category',
      'Observation.subject',
      'Observation.value[x]',
      'Observation.component',
    ]);
  });
});

describe('pattern[x] matching (elementdefinition.html#ElementDefinition.pattern_x_)', () => {
  it('the instance must contain the pattern; arrays match item by item', () => {
    const pattern = { coding: [{ system: 's', code: 'c' }] };
    expect(matchesPattern({ coding: [{ system: 'x', code: 'y' }, { system: 's', code: 'c', display: 'd' }], text: 't' }, pattern)).toBe(true);
    expect(matchesPattern({ coding: [{ system: 's', code: 'other' }] }, pattern)).toBe(false);
    expect(matchesPattern(undefined, pattern)).toBe(false);
    expect(matchesPattern('a', 'a')).toBe(true);
  });
});

describe('Terminology', () => {
  const registry = new ProfileRegistry(loadDefinitions());
  registry.add({ resourceType: 'CodeSystem', url: 'http://example.org/cs', status: 'active', content: 'complete', concept: [{ code: 'a', concept: [{ code: 'a1' }] }, { code: 'b' }] });
  registry.add({ resourceType: 'ValueSet', url: 'http://example.org/vs-all', status: 'active', compose: { include: [{ system: 'http://example.org/cs' }] } });
  registry.add({
    resourceType: 'ValueSet',
    url: 'http://example.org/vs-nested',
    status: 'active',
    compose: { include: [{ valueSet: ['http://example.org/vs-all'] }, { system: 'http://x', concept: [{ code: 'z' }] }] },
  });
  registry.add({
    resourceType: 'ValueSet',
    url: 'http://example.org/vs-filter',
    status: 'active',
    compose: { include: [{ system: 'http://snomed.info/sct', filter: [{ property: 'concept', op: 'is-a', value: '1' }] }] },
  });

  it('expands whole code systems (with nested concepts) and included value sets', () => {
    const all = registry.terminology.expand('http://example.org/vs-all|1.0')!;
    expect([...all.codes].sort()).toEqual(['a', 'a1', 'b']);
    const nested = registry.terminology.expand('http://example.org/vs-nested')!;
    expect(nested.pairs?.has('http://example.org/cs|a1')).toBe(true);
    expect(nested.pairs?.has('http://x|z')).toBe(true);
  });

  it('does not enumerate filters or unknown sets; uses the core sets', () => {
    expect(registry.terminology.expand('http://example.org/vs-filter')).toBeUndefined();
    expect(registry.terminology.expand('http://example.org/unknown')).toBeUndefined();
    expect(registry.terminology.expand('http://hl7.org/fhir/ValueSet/administrative-gender')?.codes.has('female')).toBe(true);
  });
});

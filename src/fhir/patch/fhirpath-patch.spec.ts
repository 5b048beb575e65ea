import type { Parameters, ParametersParameter, Resource } from 'fhir/r4';
import { loadDefinitions } from '../definitions/definitions';
import { SchemaCompiler } from '../validation/structure-schema';
import { expectFhirError } from '../../../test/helpers/fhir-error';
import { applyFhirPathPatch } from './fhirpath-patch';

/** R4 fhirpatch.html: the operation table (add, insert, delete, replace, move) and its base rules. */
const schemas = new SchemaCompiler(loadDefinitions());

type Op = { type: string; path: string; name?: string; value?: Record<string, unknown> | ParametersParameter[]; index?: number; source?: number; destination?: number };

function patch(...ops: Op[]): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: ops.map((o) => {
      const part: ParametersParameter[] = [
        { name: 'type', valueCode: o.type },
        { name: 'path', valueString: o.path },
      ];
      if (o.name) part.push({ name: 'name', valueString: o.name });
      if (Array.isArray(o.value)) part.push({ name: 'value', part: o.value });
      else if (o.value) part.push({ name: 'value', ...o.value });
      for (const k of ['index', 'source', 'destination'] as const) if (o[k] !== undefined) part.push({ name: k, valueInteger: o[k] });
      return { name: 'operation', part };
    }),
  };
}

const run = (r: unknown, ...ops: Op[]) => applyFhirPathPatch(r as Resource, patch(...ops), schemas) as any;

const fails = expectFhirError;

const patient = () => ({
  resourceType: 'Patient',
  id: 'p',
  identifier: [
    { system: 'http://a', value: '1' },
    { system: 'http://b', value: '2' },
  ],
  name: [{ use: 'official', family: 'Chalmers', given: ['Peter', 'James'], _given: [null, { extension: [{ url: 'http://x', valueString: 'y' }] }] }],
  birthDate: '1974-12-25',
});

describe('FHIRPath Patch', () => {
  it('add: a non-repeating element that is absent, and appends to a list (the spec examples)', () => {
    const p = patient() as any;
    delete p.birthDate;
    const out = run(p, { type: 'add', path: 'Patient', name: 'birthDate', value: { valueDate: '1930-01-01' } });
    expect(out.birthDate).toBe('1930-01-01');
    expect(p.birthDate).toBeUndefined(); // the input is not changed
    // an anonymous element from parts; a repeating element becomes a list (Patient.contact is 0..*)
    const c = run(p, {
      type: 'add',
      path: 'Patient',
      name: 'contact',
      value: [
        { name: 'name', valueHumanName: { text: 'a name' } },
        { name: 'telecom', valueContactPoint: { system: 'phone', value: '555' } },
      ],
    });
    expect(c.contact).toEqual([{ name: { text: 'a name' }, telecom: [{ system: 'phone', value: '555' }] }]);
    const twice = run(c, { type: 'add', path: 'Patient.contact[0]', name: 'gender', value: { valueCode: 'female' } });
    expect(twice.contact[0].gender).toBe('female');
    const more = run(p, { type: 'add', path: 'Patient', name: 'identifier', value: { valueIdentifier: { value: '3' } } });
    expect(more.identifier.map((i: any) => i.value)).toEqual(['1', '2', '3']);
    fails(() => run(patient(), { type: 'add', path: 'Patient', name: 'birthDate', value: { valueDate: '1930' } }), 422, /already exists/);
  });

  it('add: a choice element takes the key of its value type', () => {
    const obs = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' } };
    const out = run(obs, { type: 'add', path: 'Observation', name: 'value', value: { valueQuantity: { value: 5, unit: 'mg' } } });
    expect(out.valueQuantity).toEqual({ value: 5, unit: 'mg' });
    expect(out.value).toBeUndefined();
  });

  it('insert: into a list at an index (0 based, at most its length)', () => {
    const out = run(patient(), { type: 'insert', path: 'Patient.identifier', index: 1, value: { valueIdentifier: { value: 'mid' } } });
    expect(out.identifier.map((i: any) => i.value)).toEqual(['1', 'mid', '2']);
    const end = run(patient(), { type: 'insert', path: 'Patient.identifier', index: 2, value: { valueIdentifier: { value: 'end' } } });
    expect(end.identifier.map((i: any) => i.value)).toEqual(['1', '2', 'end']);
    fails(() => run(patient(), { type: 'insert', path: 'Patient.identifier', index: 3, value: { valueIdentifier: { value: 'x' } } }), 422, /past the end/);
    // a primitive list keeps its `_given` extensions aligned
    const given = run(patient(), { type: 'insert', path: 'Patient.name[0].given', index: 0, value: { valueString: 'Jim' } });
    expect(given.name[0].given).toEqual(['Jim', 'Peter', 'James']);
    expect(given.name[0]._given).toEqual([null, null, { extension: [{ url: 'http://x', valueString: 'y' }] }]);
    fails(() => run(patient(), { type: 'insert', path: 'Patient.birthDate', index: 0, value: { valueDate: '2000' } }), 422, /not a list/);
  });

  it('delete: one element, found by any FHIRPath; nothing when the path selects nothing', () => {
    const out = run(patient(), { type: 'delete', path: "Patient.identifier.where(system = 'http://a')" });
    expect(out.identifier).toEqual([{ system: 'http://b', value: '2' }]);
    expect(run(patient(), { type: 'delete', path: 'Patient.birthDate' }).birthDate).toBeUndefined();
    const given = run(patient(), { type: 'delete', path: 'Patient.name[0].given[1]' });
    expect(given.name[0].given).toEqual(['Peter']);
    expect(given.name[0]._given).toBeUndefined();
    expect(run(patient(), { type: 'delete', path: 'Patient.gender' })).toEqual(patient());
    const last = run(run(patient(), { type: 'delete', path: 'Patient.identifier[0]' }), { type: 'delete', path: 'Patient.identifier[0]' });
    expect(last.identifier).toBeUndefined();
    fails(() => run(patient(), { type: 'delete', path: 'Patient.identifier' }), 422, /selects 2 elements/);
  });

  it('replace: a primitive, a list item, a complex element and a choice element changing type', () => {
    expect(run(patient(), { type: 'replace', path: 'Patient.birthDate', value: { valueDate: '1975' } }).birthDate).toBe('1975');
    expect(run(patient(), { type: 'replace', path: 'Patient.name[0].given[0]', value: { valueString: 'Pete' } }).name[0].given).toEqual(['Pete', 'James']);
    const id = run(patient(), { type: 'replace', path: "Patient.identifier.where(value = '2')", value: { valueIdentifier: { system: 'http://c', value: '9' } } });
    expect(id.identifier[1]).toEqual({ system: 'http://c', value: '9' });
    const obs = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, valueString: 'high' };
    const q = run(obs, { type: 'replace', path: 'Observation.value', value: { valueQuantity: { value: 7 } } });
    expect(q.valueQuantity).toEqual({ value: 7 });
    expect(q.valueString).toBeUndefined();
    // a choice inside a datatype: an extension's value
    const ext = { ...patient(), extension: [{ url: 'http://x', valueString: 'a' }] };
    const e = run(ext, { type: 'replace', path: "Patient.extension.where(url = 'http://x').value", value: { valueInteger: 3 } });
    expect(e.extension).toEqual([{ url: 'http://x', valueInteger: 3 }]);
    fails(() => run(patient(), { type: 'replace', path: 'Patient.gender', value: { valueCode: 'male' } }), 422, /exactly one element, it selects 0/);
  });

  it('move: within one list', () => {
    const out = run(patient(), { type: 'move', path: 'Patient.identifier', source: 0, destination: 1 });
    expect(out.identifier.map((i: any) => i.value)).toEqual(['2', '1']);
    const given = run(patient(), { type: 'move', path: 'Patient.name[0].given', source: 1, destination: 0 });
    expect(given.name[0].given).toEqual(['James', 'Peter']);
    expect(given.name[0]._given).toEqual([{ extension: [{ url: 'http://x', valueString: 'y' }] }, null]);
    fails(() => run(patient(), { type: 'move', path: 'Patient.identifier', source: 0, destination: 2 }), 422, /outside/);
  });

  it('applies operations in order, all or nothing; refuses what the base rules forbid', () => {
    const both = run(patient(), { type: 'delete', path: 'Patient.birthDate' }, { type: 'add', path: 'Patient', name: 'birthDate', value: { valueDate: '2001' } });
    expect(both.birthDate).toBe('2001');
    const p = patient();
    fails(() => run(p, { type: 'delete', path: 'Patient.birthDate' }, { type: 'replace', path: 'Patient.gender', value: { valueCode: 'x' } }), 422, /operation 1/);
    expect(p).toEqual(patient());
    fails(() => run(p, { type: 'replace', path: 'Patient.generalPractitioner.resolve().name', value: { valueString: 'x' } }), 400, /resolve/);
    fails(() => run(p, { type: 'upsert', path: 'Patient' }), 400, /unknown operation type/);
    fails(() => run(p, { type: 'add', path: 'Patient', name: 'contact', value: [{ name: '__proto__', valueString: 'x' }] }), 400, /not an element name/);
    fails(() => run(p, { type: 'replace', path: '1 + 1', value: { valueInteger: 3 } }), 400, /ending in its element name/);
    fails(() => run(p, { type: 'replace', path: "Patient.name.first().combine(Patient.name.first())", value: { valueString: 'x' } }), 422, /exactly one/);
    fails(() => run(p, { type: 'replace', path: 'Patient.(', value: { valueString: 'x' } }), 400, /invalid FHIRPath/);
    fails(() => applyFhirPathPatch(p as Resource, { resourceType: 'Parameters', parameter: [{ name: 'x' }] }, schemas), 400, /"operation" parameters/);
  });
});

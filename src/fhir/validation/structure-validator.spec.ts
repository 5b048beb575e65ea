import { loadDefinitions } from '../definitions/definitions';
import { compilePrimitiveChecks, xsdRegex } from './primitives';
import { SchemaCompiler } from './structure-schema';
import { MAX_ELEMENT_DEPTH, referencedType, StructureValidator } from './structure-validator';
import { checkXhtml } from './xhtml';

const defs = loadDefinitions();
const compiler = new SchemaCompiler(defs);
const validator = new StructureValidator(compiler);
const checks = compilePrimitiveChecks(defs.primitiveRegex, Object.keys(defs.types).filter((t) => defs.types[t].kind === 'primitive-type'));
const check = (type: string, value: unknown) => checks.get(type)!(value);

// datatypes.html §2.24.0.1 primitive types: formats and JSON representation (json.html §2.6.2.1)
describe('primitive types', () => {
  it.each([
    ['date', '2018'],
    ['date', '1973-06'],
    ['date', '2024-02-29'],
    ['dateTime', '2015-02-07T13:28:17.239+02:00'],
    ['dateTime', '2017-01-01T00:00:00Z'],
    ['instant', '2015-02-07T13:28:17.239+02:00'],
    ['time', '23:59:60'],
    ['id', 'a-B.9'],
    ['code', 'vital signs'],
    ['uri', 'urn:oid:1.2.3'],
    ['oid', 'urn:oid:2.16.840.1.113883'],
    ['uuid', 'urn:uuid:c757873d-ec9a-4326-a141-556f43239520'],
    ['base64Binary', 'aGVs\nbG8g d29y bGQ='],
    ['string', 'non\u00a0breaking space and tab\t'],
    ['string', 'line\r\nbreaks'],
    ['markdown', '# title'],
    ['integer', -2147483648],
    ['unsignedInt', 0],
    ['positiveInt', 2147483647],
    ['decimal', 1e-7],
    ['boolean', false],
  ])('%s accepts %j', (type, value) => {
    expect(check(type, value)).toBeUndefined();
  });

  it.each([
    ['date', '2023-02-29'],
    ['date', '2023-04-31'],
    ['date', '20230101'],
    ['dateTime', '2015-02-07T13:28'],
    ['dateTime', '2015-02-07T13:28:17'],
    ['instant', '2015-02-07'],
    ['time', '24:00:00'],
    ['id', 'a'.repeat(65)],
    ['id', 'under_score'],
    ['code', ' leading'],
    ['code', 'two  spaces'],
    ['uri', 'has space'],
    ['oid', '1.2.3'],
    ['uuid', 'c757873d-ec9a-4326-a141-556f43239520'],
    ['base64Binary', 'abc'],
    ['base64Binary', 'ab=c'],
    ['string', ''],
    ['string', 42],
    ['integer', 2147483648],
    ['integer', 1.5],
    ['integer', '1'],
    ['unsignedInt', -1],
    ['positiveInt', 0],
    ['decimal', '1.0'],
    ['boolean', 'true'],
    // datatypes.html#string: no character points below 32 except tab, CR and LF (PostgreSQL text cannot hold U+0000 either)
    ['string', 'a\u0000b'],
    ['string', 'bell\u0007'],
    ['markdown', 'form\u000cfeed'],
    ['code', 'x\u001f'],
    ['uri', 'urn:x\u0000'],
  ])('%s rejects %j', (type, value) => {
    expect(check(type, value)).toEqual(expect.any(String));
  });

  it('names the control character it refuses', () => {
    expect(check('string', 'a\u0000b')).toMatch(/U\+0000/);
  });

  it('reads the XML Schema regexes with XML whitespace semantics', () => {
    expect(xsdRegex('[^\\s]+').test('a\u00a0b')).toBe(true);
    expect(xsdRegex('\\S*').test('a b')).toBe(false);
  });
});

// narrative.html §2.4.0.1: txt-1 and txt-2
describe('Narrative.div', () => {
  const ns = 'xmlns="http://www.w3.org/1999/xhtml"';
  it('accepts ordinary XHTML with entities, comments, tables and images', () => {
    expect(checkXhtml(`<div ${ns}><!-- x --><table><tr><td>a &lt; b&#160;&nbsp;</td></tr></table><img src="x.png"/></div>`)).toBeUndefined();
    expect(checkXhtml(`<div ${ns}><img src="#a"/></div>`)).toBeUndefined();
  });
  it.each([
    [`<div ${ns}><p>x</div>`, 'malformed'],
    [`<div ${ns}>a & b</div>`, 'malformed'],
    [`<div ${ns}>x</div><div ${ns}>y</div>`, 'malformed'],
    ['<p>x</p>', 'malformed'],
    [`<div ${ns}><iframe src="x"></iframe></div>`, 'invariant'],
    [`<div ${ns}><img src="javascript:alert(1)"/></div>`, 'invariant'],
    [`<div ${ns}><p>   </p></div>`, 'invariant'],
  ])('refuses %s (%s)', (div, kind) => {
    expect(checkXhtml(div)?.kind).toBe(kind);
  });
});

// references.html §2.3.0.1: literal references
describe('referencedType', () => {
  it.each([
    ['Patient/123', 'Patient'],
    ['Patient/123/_history/2', 'Patient'],
    ['http://example.org/fhir/Observation/a.b', 'Observation'],
    ['Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1', 'Practitioner'],
    ['#contained', undefined],
    ['urn:uuid:c757873d-ec9a-4326-a141-556f43239520', undefined],
    ['Unknown/1', undefined],
    ['http://example.org/some/document', undefined],
  ])('%s → %s', (ref, type) => {
    expect(referencedType(ref, compiler)).toBe(type);
  });
});

describe('StructureValidator', () => {
  it('compiles every resource type, with choice types expanded and contentReferences resolved', () => {
    compiler.compileAll();
    const obs = compiler.resource('Observation')!;
    expect(obs.props.get('valueQuantity')).toMatchObject({ type: 'Quantity', choice: 'value[x]', step: 'value.ofType(Quantity)' });
    expect(obs.props.get('value')).toBeUndefined();
    const q = compiler.resource('Questionnaire')!;
    const item = q.props.get('item')!.schema!;
    expect(item.props.get('item')!.schema).toBe(item); // Questionnaire.item.item → Questionnaire.item
  });

  it('reports every problem of a resource with FHIRPath expressions', () => {
    const issues = validator.validate({
      resourceType: 'Patient',
      id: 'p1',
      name: [{ given: ['a', 1], foo: true }],
      gender: 'unknown-ish',
      deceasedBoolean: false,
      deceasedDateTime: '2020',
    });
    expect(issues.map((i) => [i.code, i.expression?.[0]])).toEqual([
      ['structure', 'Patient.name[0].given[1]'],
      ['structure', 'Patient.name[0].foo'],
      ['code-invalid', 'Patient.gender'],
      ['structure', 'Patient.deceased.ofType(dateTime)'],
    ]);
  });

  it(`refuses elements nested more than ${MAX_ELEMENT_DEPTH} levels deep, and only those`, () => {
    const parameters = (levels: number) => {
      let part: any = { name: 'leaf', valueString: 'x' };
      for (let i = 0; i < levels; i++) part = { name: 'p', part: [part] };
      return { resourceType: 'Parameters', parameter: [part] };
    };
    // the resource is one level, each parameter or part one more
    expect(validator.validate(parameters(MAX_ELEMENT_DEPTH - 2))).toEqual([]);
    const deep = validator.validate(parameters(MAX_ELEMENT_DEPTH - 1));
    expect(deep.map((i) => [i.code, i.diagnostics])).toEqual([['structure', `elements are nested more than ${MAX_ELEMENT_DEPTH} levels deep`]]);
    // the walk stops there: far deeper input costs no deeper recursion
    expect(validator.validate(parameters(20_000))).toHaveLength(1);
  });

  it('validates resources nested in Bundle entries and reports them to the caller', () => {
    const nested: { path: string }[] = [];
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'DELETE', url: 'Patient/2' } },
      ],
    };
    expect(validator.validate(bundle, nested as any)).toEqual([]);
    expect(nested.map((n) => n.path)).toEqual(['Bundle.entry[0].resource']);
    const bad = { ...bundle, entry: [{ request: { method: 'FETCH', url: 'x' } }] };
    expect(validator.validate(bad).map((i) => [i.code, i.expression?.[0]])).toEqual([['code-invalid', 'Bundle.entry[0].request.method']]);
  });

  it('checks local references (#id) against the type of the contained resource', () => {
    const obs = (ref: string) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      contained: [{ resourceType: 'Medication', id: 'm1' }, { resourceType: 'Patient', id: 'p1' }],
      subject: { reference: ref },
    });
    expect(validator.validate(obs('#p1'))).toEqual([]);
    expect(validator.validate(obs('#m1')).map((i) => [i.code, i.expression?.[0]])).toEqual([['value', 'Observation.subject.reference']]);
  });

  it('refuses a non-object and an unknown or abstract resourceType', () => {
    expect(validator.validate([])[0].code).toBe('structure');
    expect(validator.validate({ resourceType: 'DomainResource' })[0].expression).toEqual(['resourceType']);
    expect(validator.validate({ name: 'x' })[0].expression).toEqual(['resourceType']);
  });
});

import { normalizeString, prefixUpperBound, words } from './normalize';
import { assertEscapes, orValues, parseDate, parseNumber, parseQuantity, parseReference, parseToken, splitEscaped, unescape, uriAbove, uriBelowBase } from './value-parsers';

// search.html#escaping, #token, #number (implicit precision), #quantity, #string (normalization)
describe('search value parsing', () => {
  it('splits at unescaped separators only and unescapes \\, \\$ \\| \\\\', () => {
    expect(orValues('a,b\\,c,d')).toEqual(['a', 'b\\,c', 'd']);
    expect(orValues('a,b\\,c,d').map(unescape)).toEqual(['a', 'b,c', 'd']);
    expect(splitEscaped('x\\|y|z', '|')).toEqual(['x\\|y', 'z']);
    expect(unescape('a\\$b\\\\c')).toEqual('a$b\\c');
  });

  it('any other escape, or a trailing \\, is malformed (400)', () => {
    for (const ok of ['a\\,b', 'a\\$b\\|c\\\\', 'plain', '\\\\\\\\']) expect(() => assertEscapes('p', ok)).not.toThrow();
    for (const bad of ['a\\b', 'a\\', '\\\\\\', 'x\\n', 'a\\\\\\-']) expect(() => assertEscapes('p', bad)).toThrow(/p: .* invalid escape/);
  });

  it('canonical references keep their |version (search.html#versions)', () => {
    expect(parseReference('http://x.org/Questionnaire/q|1.0', 'r', ['Questionnaire'], undefined, 'http://base')).toEqual(['http://x.org/Questionnaire/q|1.0']);
    expect(parseReference('http://x.org/Questionnaire/q', 'r', ['Questionnaire'], undefined, 'http://base')).toEqual(['http://x.org/Questionnaire/q']);
  });

  it('tokens: code, system|code, |code, system|', () => {
    expect(parseToken('8867-4')).toEqual({ code: '8867-4' });
    expect(parseToken('http://loinc.org|8867-4')).toEqual({ system: 'http://loinc.org', code: '8867-4' });
    expect(parseToken('|8867-4')).toEqual({ system: null, code: '8867-4' });
    expect(parseToken('http://loinc.org|')).toEqual({ system: 'http://loinc.org', code: undefined });
    expect(parseToken('urn:a\\|b|c')).toEqual({ system: 'urn:a|b', code: 'c' });
  });

  // search.html#date: values are dateTimes (datatypes.html#dateTime: offsets -14:00 … +14:00)
  it('dates: a time-zone offset out of the dateTime range is invalid (400)', () => {
    expect(parseDate('ge2020-01-01T00:00:00+14:00', 'd').range.low.toISOString()).toBe('2019-12-31T10:00:00.000Z');
    expect(parseDate('2020-01-01T00:00:00-05:30', 'd').range.low.toISOString()).toBe('2020-01-01T05:30:00.000Z');
    for (const v of ['2020-01-01T00:00:00+99:00', '2020-01-01T00:00:00+14:30', '2020-01-01T00:00:00-05:60', '2020-01-01T00:00+15:00']) {
      expect(() => parseDate(v, 'd')).toThrow(/not a valid date/);
    }
  });

  it('numbers carry the implicit range of their precision', () => {
    expect(parseNumber('100', 'n')).toMatchObject({ prefix: 'eq', value: 100, low: 99.5, high: 100.5 });
    expect(parseNumber('gt0.50', 'n')).toMatchObject({ prefix: 'gt', value: 0.5, low: 0.495, high: 0.505 });
    expect(parseNumber('1e2', 'n')).toMatchObject({ low: 50, high: 150 });
    expect(() => parseNumber('1,0', 'n')).toThrow();
    // bound in the SQL as exact decimals: at 16 significant figures the double range is empty (R4 example Observation-body-height)
    expect(parseNumber('66.89999999999999', 'n').bounds).toEqual({ low: '66899999999999985e-15', high: '66899999999999995e-15' });
    expect(parseNumber('-1.5', 'n').bounds).toEqual({ low: '-155e-2', high: '-145e-2' });
    expect(parseNumber('1e2', 'n').bounds).toEqual({ low: '5e1', high: '15e1' });
    expect(parseQuantity('le5.4|http://unitsofmeasure.org|mg', 'q')).toMatchObject({ prefix: 'le', value: 5.4, system: 'http://unitsofmeasure.org', code: 'mg' });
    const codeOnly = parseQuantity('5.4||mg', 'q');
    expect(codeOnly.code).toBe('mg');
    expect(codeOnly.system).toBeUndefined();
  });

  it('strings are compared without case, accents or extra whitespace; prefixes as ranges', () => {
    expect(normalizeString('  Müller-Schmidt  Ève ')).toBe('muller-schmidt eve');
    expect(normalizeString('ＡＢＣ')).toBe('abc'); // compatibility forms
    expect(words('Infusion <b>pump</b>, ward 7')).toEqual(['infusion', 'b', 'pump', 'b', 'ward', '7']);
    const hi = prefixUpperBound('smi');
    expect('smith' < hi && 'smi' < hi && 'smj' > hi).toBe(true);
  });

  it('uri :above and :below go by whole path segments (search.html#uri)', () => {
    expect(uriAbove('http://acme.org/fhir/ValueSet/123/_history/5').filter((u) => !u.endsWith('/'))).toEqual([
      'http://acme.org/fhir/ValueSet/123/_history/5',
      'http://acme.org/fhir/ValueSet/123/_history',
      'http://acme.org/fhir/ValueSet/123',
      'http://acme.org/fhir/ValueSet',
      'http://acme.org/fhir',
      'http://acme.org',
    ]);
    expect(uriAbove('http://acme.org/fhir/')).toEqual(['http://acme.org/fhir/', 'http://acme.org/fhir', 'http://acme.org', 'http://acme.org/']);
    expect(uriAbove('http://a.org/x?y=1#z')).toEqual(['http://a.org/x?y=1#z', 'http://a.org/x', 'http://a.org/x/', 'http://a.org', 'http://a.org/']);
    expect(uriBelowBase('http://acme.org/fhir/')).toBe('http://acme.org/fhir');
  });
});

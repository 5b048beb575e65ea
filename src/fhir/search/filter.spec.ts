import { parseFilter, standardTest } from './filter';

// search_filter.html: the formal grammar, left-to-right logic with no precedence, JSON strings.
describe('_filter grammar', () => {
  it('parses tests, JSON strings and tokens', () => {
    expect(parseFilter('name co "pet"')).toEqual({ kind: 'test', path: 'name', op: 'co', value: 'pet' });
    expect(parseFilter('  subject.name   co  "a \\"b\\" ) ]"  ')).toEqual({ kind: 'test', path: 'subject.name', op: 'co', value: 'a "b" ) ]' });
    expect(parseFilter('code eq http://loinc.org|1234-5')).toEqual({ kind: 'test', path: 'code', op: 'eq', value: 'http://loinc.org|1234-5' });
  });

  it('applies and / or left to right, parentheses and not as written', () => {
    const a = { kind: 'test', path: 'a', op: 'eq', value: '1' };
    const b = { kind: 'test', path: 'b', op: 'eq', value: '2' };
    const c = { kind: 'test', path: 'c', op: 'eq', value: '3' };
    expect(parseFilter('a eq 1 or b eq 2 and c eq 3')).toEqual({ kind: 'and', items: [{ kind: 'or', items: [a, b] }, c] });
    expect(parseFilter('a eq 1 or (b eq 2 and c eq 3)')).toEqual({ kind: 'or', items: [a, { kind: 'and', items: [b, c] }] });
    expect(parseFilter('a eq 1 and b eq 2 and c eq 3')).toEqual({ kind: 'and', items: [a, b, c] });
    expect(parseFilter('not (a eq 1) and b eq 2')).toEqual({ kind: 'and', items: [{ kind: 'not', inner: a }, b] });
    expect(parseFilter('(a eq 1)')).toEqual(a);
  });

  it('refuses malformed filters with the position', () => {
    expect(() => parseFilter('a eq')).toThrow(/value expected/);
    expect(() => parseFilter('a zz 1')).toThrow(/not a filter operator/);
    expect(() => parseFilter('not a eq 1')).toThrow(/"\(" expected/);
    expect(() => parseFilter('a eq 1 xor b eq 2')).toThrow(/"and" or "or" expected/);
    expect(() => parseFilter('a eq "1')).toThrow(/unterminated/);
    expect(() => parseFilter('a eq 1)')).toThrow(/unexpected/);
    expect(() => parseFilter('1a eq 1')).toThrow(/not a parameter name/);
    expect(() => parseFilter('('.repeat(40) + 'a eq 1' + ')'.repeat(40))).toThrow(/nested/);
  });

  it('maps each operation to the standard syntax of the parameter type', () => {
    expect(standardTest('string', 'name', 'co', 'a,b')).toEqual({ name: 'name:contains', value: 'a\\,b' });
    expect(standardTest('string', 'name', 'eq', 'x')).toEqual({ name: 'name', value: 'x', match: 'equals', not: false });
    expect(standardTest('token', 'code', 'eq', 'snomed|123')).toEqual({ name: 'code', value: 'http://snomed.info/sct|123' });
    expect(standardTest('token', 'code', 'ss', 'http://snomed.info/sct|123')).toEqual({ name: 'code:below', value: 'http://snomed.info/sct|123' });
    expect(standardTest('token', 'code', 'sb', 'http://snomed.info/sct|123').name).toBe('code:above');
    expect(standardTest('token', 'code', 'ni', 'http://vs').name).toBe('code:not-in');
    expect(standardTest('date', 'date', 'po', '2021')).toEqual({ name: 'date', value: 'ge2021', alsoOnSameValue: 'le2021' });
    expect(standardTest('number', 'n', 'ap', '5')).toEqual({ name: 'n', value: 'ap5' });
    expect(standardTest('reference', 'subject', 're', 'Patient/1')).toEqual({ name: 'subject', value: 'Patient/1', not: false });
    expect(standardTest('token', 'code', 'pr', 'false')).toEqual({ name: 'code:missing', value: 'true' });
    expect(() => standardTest('date', 'date', 'sw', '2021')).toThrow(/not supported/);
    expect(() => standardTest('token', 'code', 'co', 'x')).toThrow(/not supported/);
  });
});

describe('_filter bounds', () => {
  it('refuses more than 100 tests', () => {
    const tests = (n: number) => Array.from({ length: n }, (_, i) => `code eq c${i}`).join(' or ');
    expect(() => parseFilter(tests(100))).not.toThrow();
    expect(() => parseFilter(tests(101))).toThrow(/more than 100 tests/);
  });
});

import { arrayLiteral, SqlParams } from './sql-params';

// PostgreSQL array literals (arrays.html "Array Value Input"): elements quoted with `"`, a `"` or
// `\` inside escaped with `\`, unquoted NULL is NULL. Both ways of making one (element by element
// for short arrays and as a fallback, JSON.stringify for the rest) must follow it. Round trips
// through PostgreSQL are in test/audit/audit-rows.e2e-spec.ts and the storage e2e tests.
describe('arrayLiteral', () => {
  const hostile = ['plain', 'a "quote"', 'back\\slash', '{brace},comma', 'NULL', ''];

  it('short arrays: every element quoted, quote and backslash escaped, null as NULL', () => {
    expect(arrayLiteral(['read'])).toBe('{"read"}');
    expect(arrayLiteral(['a "q"', null, 'b\\c'])).toBe('{"a \\"q\\"",NULL,"b\\\\c"}');
    expect(arrayLiteral([])).toBe('{}');
  });

  it('long arrays: the same literal, whichever way it is made', () => {
    expect(arrayLiteral(hostile)).toBe('{"plain","a \\"quote\\"","back\\\\slash","{brace},comma","NULL",""}');
    // made by JSON.stringify: unquoted null is NULL, numbers bare
    expect(arrayLiteral(['plain', 'a "quote"', '{brace},comma', null, 7])).toBe('{"plain","a \\"quote\\"","{brace},comma",null,7}');
    // a backslash the JSON check cannot tell from a JSON escape: made element by element
    expect(arrayLiteral(['x', 'y', 'z', 'back\\slash', null])).toBe('{"x","y","z","back\\\\slash",NULL}');
  });

  it('control characters are written raw inside quotes, not as JSON escapes', () => {
    const values = ['line\nbreak', 'tab\there', 'x', 'y', 'z'];
    expect(arrayLiteral(values)).toBe('{"line\nbreak","tab\there","x","y","z"}');
  });

  it('SqlParams binds arrays as their literal and returns a typed placeholder', () => {
    const p = new SqlParams();
    expect(p.bind(['a', 'b'], 'text[]')).toBe('$1::text[]');
    expect(p.bind(5)).toBe('$2');
    expect(p.values).toEqual(['{"a","b"}', 5]);
  });
});

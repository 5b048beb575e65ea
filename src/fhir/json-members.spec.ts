import * as fs from 'fs';
import * as path from 'path';
import { topLevelMembers } from './json-members';

/**
 * topLevelMembers against JSON.parse as the oracle (RFC 8259): the members it returns, each value
 * parsed, are the object's own properties in order, whatever the strings, nesting and whitespace.
 */
const EXAMPLES = path.join(__dirname, '../../..', 'shared', 'fixtures', 'r4-examples');

function expectSameAsParse(text: string): void {
  const members = topLevelMembers(text);
  expect(members).toBeDefined();
  const parsed = JSON.parse(text);
  expect(members!.map((m) => m.key)).toEqual(Object.keys(parsed));
  for (const m of members!) expect(JSON.parse(m.value)).toEqual(parsed[m.key]);
}

describe('topLevelMembers', () => {
  it('splits compact and indented objects with every kind of value', () => {
    const value = {
      resourceType: 'Patient',
      id: 'p1',
      active: true,
      deceasedBoolean: false,
      multipleBirthInteger: 2,
      score: -1.5e-3,
      note: null,
      text: { div: '<div xmlns="http://www.w3.org/1999/xhtml">a "quoted" {brace} [bracket], comma</div>' },
      name: [{ family: 'back\\slash\\', given: ['ends with \\"', 'ü ☃ 𝄞', 'tab\there\nnewline'] }],
      empty: {},
      none: [],
      nested: [[1, [2, { a: [] }]], { b: { c: '}' } }],
    };
    expectSameAsParse(JSON.stringify(value));
    expectSameAsParse(JSON.stringify(value, null, 2));
    expectSameAsParse(` \r\n\t${JSON.stringify(value, null, '\t')}\n `);
    expectSameAsParse('{}');
    expectSameAsParse('{"a\\"b":1,"c\\\\":"\\\\"}');
  });

  it('returns undefined for anything but one object', () => {
    for (const text of ['[]', '"x"', '1', '{"a":1', '{"a":1}}', '{"a" 1}', '{"a":1,}', '{"a":"unterminated}', '{a:1}', '']) {
      expect(topLevelMembers(text)).toBeUndefined();
    }
  });

  (fs.existsSync(EXAMPLES) ? it : it.skip)('agrees with JSON.parse on every R4 spec example', () => {
    const files = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(100);
    for (const f of files) {
      const text = fs.readFileSync(path.join(EXAMPLES, f), 'utf8');
      expectSameAsParse(text);
      expectSameAsParse(JSON.stringify(JSON.parse(text)));
    }
  });
});

import { arrayLiteral } from '../../../src/fhir/storage/sql-params';
import { startTestApp, TestApp } from '../../helpers/test-app';

// The array literals that bundle and index writes bind (`SqlParams.bind(values, 'text[]')`), read
// back by PostgreSQL itself: the oracle is the database's own array parser.
describe('array literals of bound arrays (src/fhir/storage/sql-params.ts)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  /** the literal as PostgreSQL reads it into `type`, returned as that type (or as text[] with `asText`) */
  const parsed = async (values: unknown[], type: string, asText = false) =>
    (await t.db.query<{ a: unknown[] }>(`SELECT $1::${type}${asText ? '::text[]' : ''} AS a`, [arrayLiteral(values)])).rows[0].a;

  const tricky = ['plain', '', 'NULL', 'null', ' blanks ', 'a,b', '{braces}', 'say "hi"', 'back\\slash', 'end\\', '\\"', 'é ü 中 🩺', "it's"];

  it('keeps every string as it was: quotes, backslashes, braces, commas, blanks, the word NULL, non-ASCII', async () => {
    expect(await parsed(tricky, 'text[]')).toEqual(tricky);
  });

  it('null and undefined are NULL; strings with control characters (no JSON form PostgreSQL reads alike) too', async () => {
    const values = ['line\nbreak', null, 'tab\there', undefined, 'cr\r', 'bell\u0007', 'x'];
    expect(await parsed(values, 'text[]')).toEqual(['line\nbreak', null, 'tab\there', null, 'cr\r', 'bell\u0007', 'x']);
    expect(await parsed([...tricky, null], 'text[]')).toEqual([...tricky, null]);
  });

  it('numbers, booleans, timestamps and the empty array', async () => {
    expect(await parsed([1, -2, 9007199254740991, null], 'bigint[]')).toEqual(['1', '-2', '9007199254740991', null]);
    expect(await parsed([0.5, 1e-7, '12.30', null], 'numeric[]', true)).toEqual(['0.5', '0.0000001', '12.30', null]);
    expect(await parsed([true, false, null], 'boolean[]')).toEqual([true, false, null]);
    const at = new Date('2024-02-29T12:34:56.789Z');
    expect((await parsed([at, null], 'timestamptz[]')).map((d) => (d ? (d as Date).toISOString() : d))).toEqual([at.toISOString(), null]);
    expect(await parsed([], 'text[]')).toEqual([]);
  });

  it('nested arrays are sub-arrays', async () => {
    expect(await parsed([['a', 'b'], ['c', null]], 'text[]')).toEqual([['a', 'b'], ['c', null]]);
  });
});

import { SqlParams } from '../../../src/fhir/storage/sql-params';
import { startTestApp, TestApp } from '../../helpers/test-app';

/**
 * `SqlParams.bind(array, 'type[]')` sends arrays as array literals made by the server (not by `pg`).
 * Oracle: PostgreSQL itself, reading them back element by element (and `pg`'s own serialization of
 * the same arrays): every value must arrive unchanged, whatever it holds.
 */
describe('SqlParams: array literals reach PostgreSQL unchanged', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const roundTrip = async (values: unknown[], type: string) => {
    const p = new SqlParams();
    const ours = await t.db.query(`SELECT x::text AS v FROM unnest(${p.bind(values, `${type}[]`)}) WITH ORDINALITY AS u(x, n) ORDER BY n`, p.values);
    const theirs = await t.db.query(`SELECT x::text AS v FROM unnest($1::${type}[]) WITH ORDINALITY AS u(x, n) ORDER BY n`, [values]);
    return { ours: ours.rows.map((r) => r.v), theirs: theirs.rows.map((r) => r.v) };
  };

  it('text: quotes, backslashes, NULL and the text "NULL", commas, braces, blanks, Unicode, empty', async () => {
    const values = ['plain', 'say "hi"', 'back\\slash', '\\"both\\"', null, 'NULL', 'a,b', '{x}', ' padded ', '', 'müller 日本 😀', "it's", 'tab\tnew\nline'];
    const r = await roundTrip(values, 'text');
    expect(r.ours).toEqual(values);
    expect(r.ours).toEqual(r.theirs);
  });

  // arrays of plain values whose strings need no JSON escape but \" and \\ take the JSON.stringify path;
  // one control character anywhere sends the whole array down the element-by-element path
  it('text without control characters (the JSON path) and with one (the element path) alike', async () => {
    const plain = ['plain', 'say "hi"', 'back\\slash', 'end\\', '\\"', null, undefined, 'NULL', 'null', 'a,b', '{x}', ' padded ', '', 'müller 日本 😀', "it's"];
    const expected = plain.map((v) => v ?? null);
    for (const values of [plain, [...plain, 'bell\u0007'], [...plain, 'cr\r']]) {
      const r = await roundTrip(values, 'text');
      expect(r.ours).toEqual(values === plain ? expected : [...expected, values[values.length - 1]]);
      expect(r.ours).toEqual(r.theirs);
    }
    expect((await roundTrip([1, -2, 9007199254740991, null, 0.5, 1e-7], 'numeric')).ours).toEqual(['1', '-2', '9007199254740991', null, '0.5', '0.0000001']);
  });

  it('numbers, bigints, booleans, timestamps (with infinity), tsvectors and bytea', async () => {
    expect(await roundTrip([1, -2.5, null, 1e21, '72.50'], 'numeric')).toEqual({ ours: ['1', '-2.5', null, '1000000000000000000000', '72.50'], theirs: ['1', '-2.5', null, '1000000000000000000000', '72.50'] });
    const big = ['-9223372036854775808', '9223372036854775807', null];
    expect((await roundTrip(big, 'bigint')).ours).toEqual(big);
    expect((await roundTrip([true, false, null], 'boolean')).ours).toEqual(['true', 'false', null]);
    const times = await roundTrip(['2024-03-01T10:00:00.123Z', new Date('2020-02-29T23:59:59.999Z'), '-infinity', 'infinity', null], 'timestamptz');
    expect(times.ours).toEqual(times.theirs);
    const ts = await roundTrip(["'fam7' 'female' 'o''brien'", null], 'tsvector');
    expect(ts.ours).toEqual(ts.theirs);
    const bytes = await roundTrip([Buffer.from([0, 1, 0xfe, 0x5c, 0x22]), null], 'bytea');
    expect(bytes.ours).toEqual(['\\x0001fe5c22', null]);
  });

  it('nested arrays as sub-arrays; scalars and non-array types as before', async () => {
    const p = new SqlParams();
    const r = await t.db.query(`SELECT ${p.bind([['a', 'b"'], ['c', null]], 'text[]')}::text AS v, ${p.bind('x', 'text')} AS s, ${p.bind({ a: 1 }, 'jsonb')}->>'a' AS j`, p.values);
    expect(r.rows[0]).toEqual({ v: '{{a,"b\\""},{c,NULL}}', s: 'x', j: '1' });
  });
});

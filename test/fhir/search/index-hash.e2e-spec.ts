import { searchHash } from '../../../src/fhir/search/normalize';
import { startTestApp, TestApp } from '../../helpers/test-app';

// The hash the indexer's generated columns compute in SQL (search_hash) and the one queries compute in
// JavaScript must be the same function, for any text (the migration SearchIndex; README "Search").
describe('search_hash (SQL) = searchHash (JavaScript)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('agrees on ASCII, Unicode, empty and long text', async () => {
    const texts = ['', 'Observation|code|8867-4', 'Patient|family|müller', '日本語|😀', 'x'.repeat(10_000), "quote'|\\back"];
    const r = await t.db.query<{ h: string }>('SELECT search_hash(x)::text AS h FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n', [texts]);
    expect(r.rows.map((x) => x.h)).toEqual(texts.map(searchHash));
  });
});

import { searchHash } from '../../../src/fhir/search/normalize';
import { startTestApp, TestApp } from '../../helpers/test-app';

/**
 * The lookup keys (hash, shash, phash, span) are computed by the writer (`withLookupKeys`) since the
 * SearchIndexKeysFromWriter migration; the oracle is the generated-column SQL they replaced,
 * evaluated by the database over the rows as stored, plus the keys of owner date rows (kind `o`,
 * SearchIndexOwnerDates): shash = their reference row's hash (`system` is the reference parameter),
 * phash = their date parameter's.
 */
const FORMER_SQL = {
  hash: `CASE WHEN kind IN ('t', 'r') THEN search_hash(resource_type || '|' || param || '|' || coalesce(value, '')) END`,
  shash: `CASE WHEN kind = 't' AND system IS NOT NULL THEN search_hash(resource_type || '|' || param || '|' || system || '|' || coalesce(value, ''))
    WHEN kind = 'o' THEN search_hash(resource_type || '|' || system || '|' || coalesce(value, '')) END`,
  phash: `CASE WHEN kind IN ('s', 'd', 'n', 'o') THEN search_hash(resource_type || '|' || param) END`,
  span: `CASE WHEN kind <> 'd' THEN NULL WHEN low = '-infinity' OR high = 'infinity' THEN 2
    WHEN high - low < interval '1 day' THEN 0 WHEN high - low < interval '366 days' THEN 1 ELSE 2 END`,
};
const DIFFERING = Object.entries(FORMER_SQL)
  .map(([column, sql]) => `${column} IS DISTINCT FROM (${sql})`)
  .join(' OR ');

// The hash search SQL computes (search_hash) and the one the server computes in JavaScript must be the same
// function, for any text (the migration SearchIndex; README "Search"); so must the keys the writer stores.
describe('search index hashes: SQL and JavaScript agree', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('search_hash (SQL) = searchHash (JavaScript) on ASCII, Unicode, empty and long text', async () => {
    const texts = ['', 'Observation|code|8867-4', 'Patient|family|müller', '日本語|😀', 'x'.repeat(10_000), "quote'|\\back"];
    const r = await t.db.query<{ h: string }>('SELECT search_hash(x)::text AS h FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n', [texts]);
    expect(r.rows.map((x) => x.h)).toEqual(texts.map(searchHash));
  });

  it('lookup keys written by the server = the former generated columns, for every kind of row of a create, an update, a transaction and contained resources', async () => {
    const observation = (day: string) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }], text: 'Pulse' },
      subject: { reference: 'Patient/keys-p' },
      // a year-long Period here; an open one and an instant in the transaction: every span class
      effectivePeriod: { start: day, end: `${day.slice(0, 4)}-12-31` },
      valueQuantity: { value: 72.5, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      identifier: [{ value: 'no-system' }, { system: 'urn:ids', value: 'with-system' }],
      note: [{ text: 'Grüße, ünïcödé' }],
      contained: [{ resourceType: 'Device', id: 'd1', type: { coding: [{ system: 'urn:dev', code: 'hr-monitor' }] }, manufacturer: 'Acme' }],
      device: { reference: '#d1' },
    });
    const patient = { resourceType: 'Patient', id: 'keys-p', name: [{ family: 'Keys', given: ['Ann'] }], birthDate: '1970', deceasedBoolean: false };
    expect((await t.http.put('/fhir/Patient/keys-p').send(patient)).status).toBe(201);
    const created = await t.http.post('/fhir/Observation').send(observation('2020-02-03'));
    expect(created.status).toBe(201);
    const updated = await t.http.put(`/fhir/Observation/${created.body.id}`).send({ ...observation('2021'), id: created.body.id });
    expect(updated.status).toBe(200);
    const open = { ...observation('2022-05-05'), effectivePeriod: { start: '2022-05-05' } };
    const tx = await t.http.post('/fhir').send({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: open, request: { method: 'POST', url: 'Observation' } },
        { resource: { ...observation('2023-01-01'), effectivePeriod: undefined, effectiveDateTime: '2023-01-01T08:30:00Z' }, request: { method: 'POST', url: 'Observation' } },
      ],
    });
    expect(tx.status).toBe(200);

    for (const table of ['search_index', 'search_index_contained']) {
      const rows = await t.db.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE ${DIFFERING})::int AS differing,
          count(DISTINCT kind)::int AS kinds, count(DISTINCT span)::int AS spans FROM ${table}`);
      expect({ table, differing: rows.rows[0].differing }).toEqual({ table, differing: 0 });
      expect(rows.rows[0].n).toBeGreaterThan(table === 'search_index' ? 20 : 2);
      if (table === 'search_index') expect(rows.rows[0]).toMatchObject({ kinds: 7, spans: 3 });
    }
  });
});

import { TableStatistics } from '../../src/database/table-statistics';
import { FHIR_JSON, startTestApp, TestApp } from '../helpers/test-app';

// Planner statistics after a bulk load: a transaction of 300 Observations writes thousands of
// search_index rows; the keeper must see the change counters and ANALYZE the table (PostgreSQL
// "Updating Planner Statistics"), so that search plans follow the data without waiting for autovacuum;
// not at every few percent of growth, which would cost a bulk load more than it saves.
describe('TableStatistics (planner statistics kept current)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ANALYZE_INTERVAL_MS: '0' }); // driven by hand below
  });
  afterAll(() => t.close());

  /** POSTs a transaction of n Observations (about ten search_index rows each). */
  const load = async (n: number) => {
    const entry = Array.from({ length: n }, (_, i) => ({
      resource: {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: `Patient/p${i % 7}` },
        effectiveDateTime: '2024-01-02T03:04:05Z',
        valueQuantity: { value: i, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      },
      request: { method: 'POST', url: 'Observation' },
    }));
    const res = await t.http
      .post('/fhir')
      .set('Content-Type', FHIR_JSON)
      .set('Prefer', 'return=minimal')
      .send({ resourceType: 'Bundle', type: 'transaction', entry });
    expect(res.status).toBe(200);
  };
  const searchIndex = async () =>
    (
      await t.db.query(
        `SELECT s.last_analyze, s.n_mod_since_analyze::int AS changed, c.reltuples::int AS analyzed
           FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
          WHERE s.schemaname = current_schema() AND s.relname = 'search_index'`,
      )
    ).rows[0];
  /** Backends publish their change counters when idle (at most once a second): waits until `n` changes show. */
  const changesShown = async (n: number) => {
    for (let i = 0; i < 40 && (await searchIndex()).changed < n; i++) await new Promise((r) => setTimeout(r, 500));
    expect((await searchIndex()).changed).toBeGreaterThanOrEqual(n);
  };

  it('analyzes search_index after a bulk load, then again once it grew by as many rows as it had', async () => {
    const stats = t.app.get(TableStatistics);
    await load(300);
    expect((await searchIndex()).last_analyze).toBeNull();
    let analyzed: string[] = [];
    for (let i = 0; i < 40 && !analyzed.includes('search_index'); i++) {
      analyzed = await stats.check();
      if (!analyzed.includes('search_index')) await new Promise((r) => setTimeout(r, 500));
    }
    expect(analyzed).toContain('search_index');
    const first = await searchIndex();
    expect(first.last_analyze).toBeInstanceOf(Date);
    expect(first.analyzed).toBeGreaterThan(2000);
    // right after an analyze nothing is stale
    expect(await stats.check()).toEqual([]);

    // half as many rows again: past the 1,000-row floor but not a doubling, so not re-analyzed
    await load(150);
    await changesShown(1000);
    expect((await searchIndex()).changed).toBeLessThan(first.analyzed);
    expect(await stats.check()).not.toContain('search_index');

    // and as many again: now it is
    await load(200);
    await changesShown(first.analyzed);
    expect(await stats.check()).toContain('search_index');
    expect((await searchIndex()).analyzed).toBeGreaterThan(first.analyzed);
  }, 90_000);
});

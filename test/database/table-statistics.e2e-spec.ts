import { TableStatistics } from '../../src/database/table-statistics';
import { FHIR_JSON, startTestApp, TestApp } from '../helpers/test-app';

// Planner statistics after a bulk load: a transaction of 300 Observations writes thousands of
// search_index rows; the keeper must see the change counters and ANALYZE the table (PostgreSQL
// "Updating Planner Statistics"), so that search plans follow the data without waiting for autovacuum.
describe('TableStatistics (planner statistics kept current)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ANALYZE_INTERVAL_MS: '0' }); // driven by hand below
  });
  afterAll(() => t.close());

  it('analyzes search_index once a bulk load changed it by more than a fifth', async () => {
    const entry = Array.from({ length: 300 }, (_, i) => ({
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

    const stats = t.app.get(TableStatistics);
    const lastAnalyze = async () =>
      (
        await t.db.query(
          `SELECT last_analyze FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'search_index'`,
        )
      ).rows[0]?.last_analyze;
    expect(await lastAnalyze()).toBeNull();
    // backends publish their change counters when idle (at most once a second): poll
    let analyzed: string[] = [];
    for (let i = 0; i < 40 && !analyzed.includes('search_index'); i++) {
      analyzed = await stats.check();
      if (!analyzed.includes('search_index')) await new Promise((r) => setTimeout(r, 500));
    }
    expect(analyzed).toContain('search_index');
    expect(await lastAnalyze()).toBeInstanceOf(Date);
    // right after an analyze nothing is stale
    expect(await stats.check()).toEqual([]);
  }, 60_000);
});

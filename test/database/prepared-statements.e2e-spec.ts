import { searchHash } from '../../src/fhir/search/normalize';
import { FHIR_JSON, startTestApp, TestApp } from '../helpers/test-app';

// Prepared statements (src/database/database.ts queryPrepared): a read and a create run as named
// statements on PostgreSQL (pg_prepared_statements of the session lists them), never on the embedded
// database, and not when DB_PREPARED_STATEMENTS=false (for transaction-mode connection poolers).
// One pooled connection, so the catalog query sees the session that ran the FHIR requests.
async function namedStatementsAfterReadAndCreate(env: Record<string, string>): Promise<number> {
  const t: TestApp = await startTestApp({ DB_POOL_SIZE: '1', ...env });
  try {
    const created = await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', gender: 'other' });
    expect(created.status).toBe(201);
    const read = await t.http.get(`/fhir/Patient/${created.body.id}`);
    expect(read.status).toBe(200);
    expect(read.body.gender).toBe('other');
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'p\\_%'`);
    return rows[0].n;
  } finally {
    await t.close();
  }
}

describe('prepared statements for key look-ups and single-resource writes', () => {
  it('are used on PostgreSQL, and not on the embedded database', async () => {
    const n = await namedStatementsAfterReadAndCreate({});
    if (process.env.TEST_DATABASE_URL) expect(n).toBeGreaterThanOrEqual(2);
    else expect(n).toBe(0);
  });

  it('are not used with DB_PREPARED_STATEMENTS=false', async () => {
    expect(await namedStatementsAfterReadAndCreate({ DB_PREPARED_STATEMENTS: 'false' })).toBe(0);
  });
});

// Search statements (SearchService.run, SearchSql.planFitsAllValues): an anchored search of plain
// parameters is prepared, and its plan cannot go wrong for a value far more common than the average
// (after five executions PostgreSQL may keep one generic plan; CriteriaSql keeps the probes per id).
// A chained search is left to the planner. Results are checked against what was created (search.html
// §3.1.1.4.1 token, §3.1.1.4.6 reference: AND of two parameters).
describe('prepared search statements', () => {
  let t: TestApp;
  const patients: string[] = [];
  beforeAll(async () => {
    t = await startTestApp({ DB_POOL_SIZE: '1' });
    for (let i = 0; i < 8; i++) {
      const p = await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', name: [{ family: `Prep${i}` }] });
      patients.push(p.body.id);
      // every patient has 3 heart rates (a common code) and, for even patients, one rare code
      const codes = ['8867-4', '8867-4', '8867-4', ...(i % 2 === 0 ? ['rare-1'] : [])];
      for (const code of codes) {
        const o = await t.http.post('/fhir/Observation').set('Content-Type', FHIR_JSON).send({
          resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, subject: { reference: `Patient/${p.body.id}` },
        });
        expect(o.status).toBe(201);
      }
    }
    // one busy subject (a device stream): in the statistics' most common values, the other subjects rare,
    // so a custom plan for a rare subject would be costed below the generic one
    const busy = await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', name: [{ family: 'Busy' }] });
    const entry = Array.from({ length: 400 }, () => ({
      resource: { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: `Patient/${busy.body.id}` } },
      request: { method: 'POST', url: 'Observation' },
    }));
    expect((await t.http.post('/fhir').set('Content-Type', FHIR_JSON).send({ resourceType: 'Bundle', type: 'batch', entry })).status).toBe(200);
    await t.db.query('ANALYZE search_index');
  });
  afterAll(() => t.close());

  const searchStatements = async () =>
    (await t.db.query(`SELECT statement FROM pg_prepared_statements WHERE name LIKE 'p\\_%' AND statement LIKE '%search_index%'`)).rows.map((r) => r.statement as string);

  it('an anchored search gives the right matches for common and rare values on one prepared statement', async () => {
    for (let round = 0; round < 2; round++) {
      for (const [i, id] of patients.entries()) {
        const common = await t.http.get(`/fhir/Observation?subject=Patient/${id}&code=http://loinc.org|8867-4`);
        expect(common.status).toBe(200);
        expect(common.body.entry).toHaveLength(3);
        const rare = await t.http.get(`/fhir/Observation?subject=Patient/${id}&code=http://loinc.org|rare-1`);
        expect(rare.body.entry ?? []).toHaveLength(i % 2 === 0 ? 1 : 0);
        for (const e of [...common.body.entry, ...(rare.body.entry ?? [])]) expect(e.resource.subject.reference).toBe(`Patient/${id}`);
      }
    }
    if (!process.env.TEST_DATABASE_URL) return;
    expect((await searchStatements()).some((s) => s.includes('OFFSET 0'))).toBe(true);
    // and PostgreSQL keeps its generic plan: the anchor's hash is opaque to the planner (RenderScope.opaqueValues),
    // so a custom plan for a rare value never looks cheaper and the statement is not planned at every execution
    const { rows } = await t.db.query(
      `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'p\\_%' AND statement LIKE '%OFFSET 0%'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].custom_plans).toBe(5); // the five PostgreSQL always makes before comparing
    expect(rows[0].generic_plans).toBe(2 * 2 * patients.length - 5);
  });

  // A page of a common code (search.html §3.1.1.4.1 token; paging §3.1.1.5.6): the ids come from the
  // (hash, resource_id) index in id order and the scan stops after the page, however many rows match; the
  // page's DISTINCT, ORDER BY and LIMIT sit at one level of the statement so the planner knows it (SearchSql.page).
  it('a page of a common code walks the index in id order and stops after the page', async () => {
    const page = await t.http.get('/fhir/Observation?code=http://loinc.org|8867-4&_count=5');
    expect(page.status).toBe(200);
    const ids = page.body.entry.map((e: any) => e.resource.id);
    expect(ids).toHaveLength(5);
    expect([...ids].sort()).toEqual(ids);
    if (!process.env.TEST_DATABASE_URL) return;
    const statements = (await searchStatements()).filter((s) => s.startsWith('SELECT') && !s.includes('OFFSET 0'));
    expect(statements).toHaveLength(1);
    const values = [searchHash('Observation|code|8867-4'), searchHash('Observation|code|http://loinc.org|8867-4'), 'Observation'];
    const plan = (await t.db.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${statements[0]}`, values)).rows[0]['QUERY PLAN'][0].Plan;
    const nodes: any[] = [];
    const walk = (n: any) => (nodes.push(n), (n.Plans ?? []).forEach(walk));
    walk(plan);
    const scan = nodes.find((n) => n['Relation Name'] === 'search_index');
    expect(scan['Node Type']).toMatch(/^Index (Only )?Scan$/);
    expect(scan['Actual Rows']).toBeLessThanOrEqual(6); // 24 + 400 rows carry the code: only the page was read
  });

  it('a chained search is planned for its values (not prepared)', async () => {
    const before = (await searchStatements()).length;
    const r = await t.http.get('/fhir/Observation?subject:Patient.family=Prep3&code=http://loinc.org|8867-4');
    expect(r.status).toBe(200);
    expect(r.body.entry).toHaveLength(3);
    expect((await searchStatements()).length).toBe(before);
  });
});

// A name search (search.html §3.1.1.4.2 string: case-insensitive prefix) is a range of the string index. With
// its bounds and page size bound as plain parameters, the custom plan of a narrow prefix (estimated from the
// statistics' histogram) looked cheaper than the generic plan (a default range selectivity, an unknown
// LIMIT), and PostgreSQL planned the statement anew at every execution, ~150 µs, half the database time of
// such a search. Bounds the planner does not see (RenderScope.opaqueValues) and a literal LIMIT let it keep
// one generic plan; the matches stay those of every prefix.
describe('prepared name searches', () => {
  let t: TestApp;
  const FAMILIES = 200;
  beforeAll(async () => {
    t = await startTestApp({ DB_POOL_SIZE: '1' });
    // 2,000 Patients, 10 per family: enough rows that a narrow prefix's estimate falls below the default range selectivity
    const entry = Array.from({ length: FAMILIES * 10 }, (_, i) => ({
      resource: { resourceType: 'Patient', name: [{ family: `Fam${i % FAMILIES}x`, given: ['Ann'] }] },
      request: { method: 'POST', url: 'Patient' },
    }));
    expect((await t.http.post('/fhir').set('Content-Type', FHIR_JSON).send({ resourceType: 'Bundle', type: 'transaction', entry })).status).toBe(200);
    await t.db.query('ANALYZE search_index');
  });
  afterAll(() => t.close());

  it('keeps one generic plan, with the right matches for every prefix', async () => {
    const searches = 12;
    for (let i = 0; i < searches; i++) {
      const family = `Fam${(i * 17) % FAMILIES}x`;
      const r = await t.http.get(`/fhir/Patient?family=${i % 2 ? family.toUpperCase() : family.toLowerCase()}`);
      expect(r.status).toBe(200);
      expect(r.body.entry).toHaveLength(10);
      for (const e of r.body.entry) expect(e.resource.name[0].family).toBe(family);
    }
    if (!process.env.TEST_DATABASE_URL) return;
    const { rows } = await t.db.query(
      `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'p\\_%' AND statement LIKE '%an0.value >=%'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].custom_plans).toBe(5); // the five PostgreSQL always makes before comparing
    expect(rows[0].generic_plans).toBe(searches - 5);
  });
});

// JIT compilation (src/database/database.ts): off for the server's connections. A selective search
// whose estimated cost passes jit_above_cost (nested loops over hash look-ups) was compiled at each
// execution, ~8 ms of compiling for 1 ms of executing. The embedded database has no JIT.
describe('JIT compilation', () => {
  it('is off on the pooled connections of PostgreSQL: an expensive-looking plan is not compiled', async () => {
    const t = await startTestApp({ DB_POOL_SIZE: '1' });
    try {
      if (!process.env.TEST_DATABASE_URL) return; // PGlite: no JIT, no setting to check
      expect((await t.db.query('SHOW jit')).rows[0].jit).toBe('off');
      // a plan costed far above jit_above_cost (100,000)
      const sql = `EXPLAIN (FORMAT JSON) SELECT sum(i) FROM generate_series(1, 10000000) i WHERE i % 7 = $1`;
      const jitOf = (r: { rows: any[] }) => r.rows[0]['QUERY PLAN'][0].JIT;
      const plan = await t.db.query(sql, [3]);
      expect(plan.rows[0]['QUERY PLAN'][0].Plan['Total Cost']).toBeGreaterThan(100_000);
      expect(jitOf(plan)).toBeUndefined();
      // the same statement with JIT on, where the server has it: compiled (what the setting prevents)
      if ((await t.db.query('SELECT pg_jit_available() AS a')).rows[0].a) {
        await t.db.transaction(async (tx) => {
          await tx.query('SET LOCAL jit = on');
          expect(jitOf(await tx.query(sql, [3]))).toBeDefined();
        });
      }
    } finally {
      await t.close();
    }
  });
});

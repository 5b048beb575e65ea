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

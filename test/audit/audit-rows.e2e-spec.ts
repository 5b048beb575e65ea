import { toRow, rowHash, AUDIT_ROW_SELECT, AuditRow } from '../../src/audit/audit-chain';
import { verifyAuditChain } from '../../src/audit/audit-verify';
import { AuditService } from '../../src/audit/audit.service';
import type { AuditRecord } from '../../src/audit/audit.types';
import { startTestApp, TestApp } from '../helpers/test-app';

// Audit rows are bound column by column (one row as scalars, a group commit as one array per
// column, arrays inside a row as the text of their literal): whatever a client can put in a row
// (its request id, query string, user name) must be stored exactly as given and hash to the row
// hash the writer computed, or audit:verify would report a tampered row.
describe('audit rows: stored exactly as written, one or many per statement', () => {
  let t: TestApp;
  let audit: AuditService;
  beforeAll(async () => {
    t = await startTestApp();
    audit = t.app.get(AuditService);
  });
  afterAll(async () => t.close());

  const hostile = ['a "quoted" value', 'back\\slash\\', '{braces},commas', 'NULL', '', ' spaced ', 'line\nbreak\ttab', 'ünïcödé ✓ 🩺'];

  function record(i: number, text: string): AuditRecord {
    return {
      recorded: new Date(Date.UTC(2026, 10, 27, 12, 0, 0, i)),
      type: 'rest',
      subtype: ['search-type', text],
      action: 'E',
      outcome: i % 2 ? 0 : 4,
      outcomeDesc: i % 2 ? undefined : text,
      clientId: text,
      userName: text,
      requestId: `rows-${i}-${text}`,
      entityType: 'Observation',
      query: `code=${text}&_count=1`,
      patient: i % 3 ? [text, `p-${i}`] : [],
    };
  }

  const stored = async (requestIds: string[]) =>
    (await t.db.query<AuditRow>(`SELECT ${AUDIT_ROW_SELECT} FROM audit_event e WHERE e.request_id = ANY($1) ORDER BY e.recorded`, [requestIds])).rows;

  it.each([
    ['one row (scalars)', 1],
    ['a group commit (one array per column)', hostile.length],
  ])('%s', async (_label, n) => {
    const records = hostile.slice(0, n).map((text, i) => record(i + (n === 1 ? 100 : 0), text));
    await audit.repository.insertMany(t.db, records);
    const rows = await stored(records.map((r) => r.requestId!));
    expect(rows).toHaveLength(records.length);
    rows.forEach((row, i) => {
      const expected = toRow(row.id, records[i]);
      const { tx: _tx, row_hash, ...got } = row;
      expect(got).toEqual(expected);
      // the hash the writer stored is the hash of the row as read back
      expect(row_hash!.toString('hex')).toBe(rowHash(got).toString('hex'));
    });
  });

  it('a write statement stores its rows the same way, and the chain verifies', async () => {
    const requestId = 'rows-write.1';
    const made = await t.http.post('/fhir/Patient').set('X-Request-Id', requestId).send({ resourceType: 'Patient', name: [{ family: 'Rows' }] });
    expect(made.status).toBe(201);
    const bundle = await t.http.post('/fhir').set('X-Request-Id', requestId).send({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [1, 2, 3].map((k) => ({
        resource: { resourceType: 'Observation', status: 'final', code: { text: `c${k}` }, subject: { reference: `Patient/${made.body.id}` } },
        request: { method: 'POST', url: 'Observation' },
      })),
    });
    expect(bundle.status).toBe(200);
    const rows = (await t.db.query(`SELECT ${AUDIT_ROW_SELECT} FROM audit_event e WHERE e.action = 'C' ORDER BY e.recorded, e.id`)).rows as AuditRow[];
    const fromBundle = rows.filter((r) => r.entity_type === 'Observation');
    expect(fromBundle).toHaveLength(3);
    for (const row of rows) {
      expect(row.request_id).toBe(requestId);
      const { tx: _tx, row_hash, ...got } = row;
      expect(row_hash!.toString('hex')).toBe(rowHash(got).toString('hex'));
    }
    expect(fromBundle.every((r) => r.patient.length === 1 && r.patient[0] === made.body.id)).toBe(true);
    await audit.sealer.sealAll();
    const report = await verifyAuditChain(t.db);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });
});

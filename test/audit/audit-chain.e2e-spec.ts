import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AuditRetention, verifyExport } from '../../src/audit/audit-retention';
import { AuditSealer } from '../../src/audit/audit-sealer';
import { verifyAuditChain } from '../../src/audit/audit-verify';
import { AuditService } from '../../src/audit/audit.service';
import { Database } from '../../src/database/database';
import { formatReport } from '../../scripts/audit-verify';
import { startTestApp, TestApp, testDatabaseUrl } from '../helpers/test-app';

// The audit trail is tamper-evident (issue: "each audit row carries a hash
// chained to the previous one; audit:verify reports the first altered,
// inserted or deleted row"): link n = SHA-256(link n-1 || n || canonical row).
describe('audit hash chain: sealing, audit:verify, retention', () => {
  let t: TestApp;
  let audit: AuditService;
  beforeAll(async () => {
    t = await startTestApp();
    audit = t.app.get(AuditService);
  });
  afterAll(async () => t.close());

  async function traffic(n: number): Promise<void> {
    const p = await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Chain' }] });
    // a delete: its row is hashed by the sealer (the writer has no content to find its Patients in)
    const gone = await t.http.post('/fhir/Basic').send({ resourceType: 'Basic', code: { text: 'x' }, subject: { reference: `Patient/${p.body.id}` } });
    await t.http.delete(`/fhir/Basic/${gone.body.id}`);
    await Promise.all(Array.from({ length: n }, (_, i) => t.http.get(i % 3 ? `/fhir/Patient/${p.body.id}` : '/fhir/Patient/nope')));
  }
  const ids = async (limit = 10) =>
    (await t.db.query(`SELECT c.seq, c.event_id::text AS id FROM audit_chain c ORDER BY c.seq LIMIT $1`, [limit])).rows;

  it('seals every committed row in (tx, id) order and verifies', async () => {
    await traffic(40);
    await audit.sealer.sealAll();
    const report = await verifyAuditChain(t.db);
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    const count = (await t.db.query('SELECT count(*)::int AS n FROM audit_event')).rows[0].n;
    expect(report.checked).toBe(count);
    expect(report.headSeq).toBe(count);
    expect(report.pending).toBe(0);
    expect(formatReport(report)).toMatch(/^audit chain OK/);
    // every row now carries its hash: written with the row, or (the delete) computed by the sealer
    const unhashed = await t.db.query(`SELECT count(*)::int AS n FROM audit_event WHERE row_hash IS NULL`);
    expect(unhashed.rows[0].n).toBe(0);
    const del = await t.db.query(`SELECT patient FROM audit_event WHERE action = 'D'`);
    expect(del.rows[0].patient).toHaveLength(1);
  });

  it('a transaction Bundle deleting many resources: the sealer hashes their rows at once and the chain verifies', async () => {
    const made = await Promise.all(
      Array.from({ length: 40 }, () => t.http.post('/fhir/Basic').send({ resourceType: 'Basic', code: { text: 'bulk' } })),
    );
    await audit.sealer.stop(); // no timed seal between the Bundle and the look below
    try {
      const del = await t.http.post('/fhir').send({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: made.map((m) => ({ request: { method: 'DELETE', url: `Basic/${m.body.id}` } })),
      });
      expect(del.status).toBe(200);
      const before = await t.db.query(`SELECT count(*)::int AS n FROM audit_event WHERE action = 'D' AND row_hash IS NULL`);
      expect(before.rows[0].n).toBe(40); // left to the sealer by their writer
      await audit.sealer.sealAll();
    } finally {
      audit.sealer.start(1000);
    }
    const after = await t.db.query(`SELECT count(*)::int AS n FROM audit_event WHERE row_hash IS NULL`);
    expect(after.rows[0].n).toBe(0);
    const report = await verifyAuditChain(t.db);
    expect(report.problems).toEqual([]);
    expect(report.pending).toBe(0);
  });

  it('reports an altered row, and only that row', async () => {
    const [, victim] = await ids();
    await t.db.query(`UPDATE audit_event SET outcome = 12 WHERE id = $1`, [victim.id]);
    const report = await verifyAuditChain(t.db);
    expect(report.ok).toBe(false);
    expect(report.first).toMatchObject({ kind: 'altered', seq: victim.seq, eventId: victim.id });
    expect(report.problems).toHaveLength(1);
    expect(formatReport(report)).toContain(victim.id);
  });

  it('reports a deleted row', async () => {
    await restoreFreshChain();
    const [, , victim] = await ids();
    await t.db.query(`DELETE FROM audit_event WHERE id = $1`, [victim.id]);
    const report = await verifyAuditChain(t.db);
    expect(report.first).toMatchObject({ kind: 'deleted', seq: victim.seq, eventId: victim.id });
  });

  it('reports a row inserted into the sealed range', async () => {
    await restoreFreshChain();
    const [first] = await ids();
    const row = (await t.db.query(`SELECT tx::text AS tx FROM audit_event WHERE id = $1`, [first.id])).rows[0];
    // a forged event slipped in among old ones: same transaction id, sorts right after the first row
    const forged = first.id.replace(/.$/, (c: string) => (c === 'f' ? 'e' : (parseInt(c, 16) + 1).toString(16)));
    await t.db.query(
      `INSERT INTO audit_event (id, tx, recorded, type, subtype, action, outcome) VALUES ($1, $2::xid8, now(), 'rest', '{read}', 'R', 0)`,
      [forged, row.tx],
    );
    const report = await verifyAuditChain(t.db);
    expect(report.first).toMatchObject({ kind: 'inserted', eventId: forged });
    // the forged id sorts right after the first row, or (when its last digit was f → e) right before it
    expect(report.first!.seq).toBeGreaterThanOrEqual(forged > first.id ? first.seq : first.seq - 1);
  });

  it('reports an altered link and a cut tail', async () => {
    await restoreFreshChain();
    const [, victim] = await ids();
    await t.db.query(`UPDATE audit_chain SET hash = sha256(hash) WHERE seq = $1`, [victim.seq]);
    expect((await verifyAuditChain(t.db)).first).toMatchObject({ kind: 'altered', seq: victim.seq });
    await restoreFreshChain();
    const last = (await t.db.query(`DELETE FROM audit_chain WHERE seq = (SELECT max(seq) FROM audit_chain) RETURNING seq, event_id::text AS id`)).rows[0];
    const cut = await verifyAuditChain(t.db);
    // the chain no longer reaches the head, and the event of the lost link is now unchained
    expect(cut.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'deleted', seq: last.seq }),
        expect.objectContaining({ kind: 'inserted', eventId: last.id }),
      ]),
    );
  });

  it('two sealers (two server processes) never fork the chain', async () => {
    await restoreFreshChain();
    const other = await Database.connect({ url: testDatabaseUrl(), schema: t.db.schema, poolSize: 2, urlIsEmbedded: !process.env.TEST_DATABASE_URL });
    try {
      const second = new AuditSealer(other);
      const load = traffic(60);
      await Promise.all([load, audit.sealer.seal(), second.seal(), audit.sealer.seal(), second.seal()]);
      await Promise.all([audit.sealer.sealAll(), second.sealAll()]);
      const report = await verifyAuditChain(t.db);
      expect(report.problems).toEqual([]);
      expect(report.pending).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('retention exports old rows as NDJSON, removes them, and the chain verifies across the cut', async () => {
    await restoreFreshChain();
    await traffic(30);
    await audit.sealer.sealAll();
    const before = await verifyAuditChain(t.db);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-export-'));
    const retention = new AuditRetention(t.db, t.baseUrl, dir, (e) => audit.recordSecurityEvent(e));
    const result = await retention.run(new Date(Date.now() + 1000)); // everything sealed is "old"
    expect(result.removed).toBe(before.headSeq - before.anchorSeq);
    expect(result.anchorSeq).toBe(before.headSeq);
    expect(result.anchorHash).toBe(before.headHash);
    const left = (await t.db.query('SELECT count(*)::int AS n FROM audit_chain')).rows[0].n;
    expect(left).toBe(0);
    // the export file holds every removed row as an AuditEvent and verifies on its own
    const lines = fs.readFileSync(result.files[0], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(result.removed);
    expect(lines[0].resourceType).toBe('AuditEvent');
    expect(verifyExport(result.files[0])).toEqual({ ok: true, rows: result.removed });
    // the retention itself is an audited event; new rows chain on from the anchor
    await traffic(5);
    await audit.sealer.sealAll();
    const after = await verifyAuditChain(t.db);
    expect(after.ok).toBe(true);
    expect(after.anchorSeq).toBe(before.headSeq);
    const ret = await t.db.query(`SELECT outcome_desc FROM audit_event WHERE 'audit-retention' = ANY(subtype)`);
    expect(ret.rows[0].outcome_desc).toContain(result.anchorHash);
    // a tampered export no longer verifies
    fs.writeFileSync(result.files[0], fs.readFileSync(result.files[0], 'utf8').replace('"outcome":"0"', '"outcome":"4"'));
    expect(verifyExport(result.files[0]).ok).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Starts over with a clean, sealed chain (tests above tamper with it). */
  async function restoreFreshChain(): Promise<void> {
    await t.db.query('TRUNCATE audit_event, audit_chain');
    await t.db.query(`UPDATE audit_head SET seq = 0, hash = decode(repeat('00', 32), 'hex'), cursor_tx = '0',
      cursor_id = '00000000-0000-0000-0000-000000000000', anchor_seq = 0, anchor_hash = decode(repeat('00', 32), 'hex')`);
    await traffic(12);
    await audit.sealer.sealAll();
    expect((await verifyAuditChain(t.db)).ok).toBe(true);
  }
});

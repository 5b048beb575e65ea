import { randomBytes } from 'crypto';
import { entityRefs, eventsOf, rid, subtypes } from '../../audit/audit-helpers';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

/** The audit row of a request and the transaction of the Binary version it names. */
async function auditTx(t: TestApp, requestId: string, id: string, version: number) {
  const r = await t.db.query(
    `SELECT (SELECT array_agg(tx::text) FROM audit_event WHERE request_id = $1) AS audit,
            (SELECT tx_id::text FROM resource_history WHERE resource_type = 'Binary' AND id = $2 AND version_id = $3) AS resource`,
    [requestId, id, version],
  );
  return r.rows[0] as { audit: string[] | null; resource: string | null };
}

// Issue "Audit trail" — "Writes record their AuditEvent in the same database transaction" — for Binary
// (R4 http.html#binary: raw uploads and FHIR JSON), IHE BALP create/update events.
describe('Binary writes are audited in the write transaction (http.html#binary, BALP)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('raw create: one AuditEvent (create, C, success, Binary/id/_history/1), committed with the version', async () => {
    const id = rid();
    const c = await t.http.post('/fhir/Binary').set('Content-Type', 'application/pdf').set('X-Request-Id', id).send(randomBytes(3000));
    expect(c.status).toBe(201);
    const events = await eventsOf(t, id);
    expect(events.length).toBe(1); // the response added no second row
    const [e] = events;
    expect(e.type.code).toBe('rest');
    expect(subtypes(e)).toEqual(['create']);
    expect(e.action).toBe('C');
    expect(e.outcome).toBe('0');
    expect(entityRefs(e)).toContain(`Binary/${c.body.id}/_history/1`);
    expect(e.agent.find((a) => a.network)?.network?.address).toMatch(/127\.0\.0\.1|::1/);
    const tx = await auditTx(t, id, c.body.id, 1);
    expect(tx.audit).toEqual([tx.resource]);
  });

  it('FHIR JSON update: one AuditEvent (update, U, version 2) in the same transaction', async () => {
    const c = await t.http.post('/fhir/Binary').set('Content-Type', FHIR_JSON).send({ resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('v1').toString('base64') });
    const id = rid();
    const u = await t.http
      .put(`/fhir/Binary/${c.body.id}`)
      .set('Content-Type', FHIR_JSON)
      .set('X-Request-Id', id)
      .send({ resourceType: 'Binary', id: c.body.id, contentType: 'text/plain', data: Buffer.from('v2').toString('base64') });
    expect(u.status).toBe(200);
    const events = await eventsOf(t, id);
    expect(events.map((e) => [subtypes(e), e.action, e.outcome])).toEqual([[['update'], 'U', '0']]);
    expect(entityRefs(events[0])).toContain(`Binary/${c.body.id}/_history/2`);
    const tx = await auditTx(t, id, c.body.id, 2);
    expect(tx.audit).toEqual([tx.resource]);
  });

  it('a write that fails leaves no AuditEvent claiming success, only the failure', async () => {
    const c = await t.http.post('/fhir/Binary').set('Content-Type', 'text/plain').send('first');
    // the version link refuses rows: the write statement fails after its audit row was built
    await t.db.query(`ALTER TABLE binary_version ADD CONSTRAINT binary_down CHECK (version_id < 0) NOT VALID`);
    const id = rid();
    try {
      const u = await t.http.put(`/fhir/Binary/${c.body.id}`).set('Content-Type', 'text/plain').set('X-Request-Id', id).send('second');
      expect(u.status).toBe(500);
    } finally {
      await t.db.query(`ALTER TABLE binary_version DROP CONSTRAINT binary_down`);
    }
    const events = await eventsOf(t, id);
    expect(events.map((e) => e.outcome)).toEqual(['8']);
    expect((await t.db.query(`SELECT max(version_id) AS v FROM resource_history WHERE resource_type = 'Binary' AND id = $1`, [c.body.id])).rows[0].v).toBe(1);
    // If-Match on a stale version: 412, audited as a failure, nothing written
    const stale = rid();
    const u412 = await t.http.put(`/fhir/Binary/${c.body.id}`).set('Content-Type', 'text/plain').set('If-Match', 'W/"9"').set('X-Request-Id', stale).send('x');
    expect(u412.status).toBe(412);
    expect((await eventsOf(t, stale)).map((e) => e.outcome)).toEqual(['4']);
  });

  it('when its AuditEvent cannot be written, the Binary is not stored either', async () => {
    // only successful Binary writes are refused by the audit table: the failure itself can still be recorded
    await t.db.query(
      `ALTER TABLE audit_event ADD CONSTRAINT audit_no_binary CHECK (entity_type IS DISTINCT FROM 'Binary' OR outcome <> 0) NOT VALID`,
    );
    const binaries = async () => (await t.db.query(`SELECT count(*)::int AS n FROM resource_history WHERE resource_type = 'Binary'`)).rows[0].n;
    const before = await binaries();
    const id = rid();
    try {
      const c = await t.http.post('/fhir/Binary').set('Content-Type', 'text/plain').set('X-Request-Id', id).send('must not stay');
      expect(c.status).toBeGreaterThanOrEqual(500);
    } finally {
      await t.db.query(`ALTER TABLE audit_event DROP CONSTRAINT audit_no_binary`);
    }
    expect(await binaries()).toBe(before);
    expect((await eventsOf(t, id)).map((e) => e.outcome)).toEqual(['8']);
  });
});

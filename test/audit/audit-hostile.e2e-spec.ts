import { startTestApp, TestApp } from '../helpers/test-app';
import { entityRefs, eventOf, eventsOf, rid, subtypes } from './audit-helpers';

// What a client sends must never keep the audit trail from recording, nor get into it:
// hostile version numbers, submitted values echoed by validation, refused interactions.
describe('AuditEvent under hostile or odd requests', () => {
  let t: TestApp;
  let patientId: string;
  beforeAll(async () => {
    t = await startTestApp();
    patientId = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Hostile' }] })).body.id;
  });
  afterAll(async () => t.close());

  it('a vread of a version beyond any integer is 404 (http.html#vread) and is audited without that version', async () => {
    for (const v of ['2147483648', '99999999999999999999']) {
      const id = rid();
      const res = await t.http.get(`/fhir/Patient/${patientId}/_history/${v}`).set('X-Request-Id', id);
      expect(res.status).toBe(404);
      expect(res.body.resourceType).toBe('OperationOutcome');
      const e = await eventOf(t, id);
      expect([subtypes(e), e.action, e.outcome]).toEqual([['vread'], 'R', '4']);
      expect(entityRefs(e)).toContain(`Patient/${patientId}`);
    }
    // the same inside a batch: its own entry fails, the Bundle and the other entries do not (http.html#transaction)
    const bundle = await t.http.post('/fhir').send({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: `Patient/${patientId}/_history/2147483648` } }, { request: { method: 'GET', url: `Patient/${patientId}` } }],
    });
    expect(bundle.status).toBe(200);
    expect(bundle.body.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['404', '200']);
  });

  it('requests sharing a group commit with a hostile one are all answered and audited', async () => {
    const good = Array.from({ length: 30 }, () => rid());
    const responses = await Promise.all([
      ...good.map((id) => t.http.get(`/fhir/Patient/${patientId}`).set('X-Request-Id', id)),
      ...Array.from({ length: 30 }, () => t.http.get(`/fhir/Patient/${patientId}/_history/2147483648`)),
    ]);
    expect(responses.slice(0, 30).map((r) => r.status)).toEqual(good.map(() => 200));
    expect(responses.slice(30).map((r) => r.status)).toEqual(good.map(() => 404));
    const n = await t.db.query('SELECT count(*)::int AS n FROM audit_event WHERE request_id = ANY($1)', [good]);
    expect(n.rows[0].n).toBe(good.length);
  });

  it('outcomeDesc names the issue and the element, never the values submitted (no resource content)', async () => {
    const secret = 'John Q Secretname 555-12-3456';
    const id = rid();
    const res = await t.http.post('/fhir/Patient').set('X-Request-Id', id).send({ resourceType: 'Patient', birthDate: secret });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const e = await eventOf(t, id);
    expect(e.outcomeDesc).toMatch(new RegExp(`^${res.status}: .*birthDate`));
    expect(JSON.stringify(e)).not.toContain('Secretname');
    // and for a batch entry that fails validation
    const bid = rid();
    const bundle = await t.http
      .post('/fhir')
      .set('X-Request-Id', bid)
      .send({ resourceType: 'Bundle', type: 'batch', entry: [{ resource: { resourceType: 'Patient', birthDate: secret }, request: { method: 'POST', url: 'Patient' } }] });
    expect(bundle.status).toBe(200);
    const events = await eventsOf(t, bid);
    expect(events.length).toBe(2);
    expect(JSON.stringify(events)).not.toContain('Secretname');
    expect(events.find((x) => subtypes(x)[0] === 'create')?.outcomeDesc).toMatch(/birthDate/);
  });

  it('a refused DELETE of a version is audited as the delete it attempted (action D), not as a read', async () => {
    const id = rid();
    const res = await t.http.delete(`/fhir/Patient/${patientId}/_history/1`).set('X-Request-Id', id);
    expect(res.status).toBe(405);
    const e = await eventOf(t, id);
    expect([subtypes(e), e.action, e.outcome]).toEqual([['delete'], 'D', '4']);
  });

  it('AuditEvent is read-only everywhere: write entries of a Bundle and history answer 405 like REST writes', async () => {
    const [row] = (await t.db.query('SELECT id::text FROM audit_event LIMIT 1')).rows;
    const bundle = await t.http.post('/fhir').send({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'DELETE', url: `AuditEvent/${row.id}` } },
        { request: { method: 'PATCH', url: `AuditEvent/${row.id}` }, resource: { resourceType: 'Parameters' } },
      ],
    });
    expect(bundle.body.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['405', '405']);
    for (const path of ['/fhir/AuditEvent/_history', `/fhir/AuditEvent/${row.id}/_history`]) expect((await t.http.get(path)).status).toBe(405);
    expect((await t.http.get(`/fhir/AuditEvent/${row.id}`)).status).toBe(200);
  });

  it('a conditional create that matches (http.html#ccreate: 200, nothing written) is audited as a disclosure, not a create', async () => {
    const id = rid();
    const res = await t.http.post('/fhir/Patient').set('X-Request-Id', id).set('If-None-Exist', `_id=${patientId}`).send({ resourceType: 'Patient' });
    expect(res.status).toBe(200);
    const e = await eventOf(t, id);
    expect([subtypes(e), e.action, e.outcome]).toEqual([['create'], 'R', '0']);
    expect(e.outcomeDesc).toMatch(/nothing written/);
    expect(entityRefs(e)).toContain(`Patient/${patientId}/_history/1`);
  });
});

import { eventsOf, rid, subtypes } from '../../audit/audit-helpers';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

/**
 * R4 http.html#delete: upon successful deletion, or if the resource does not exist at all, the
 * server should return 200 (with a payload) or 204 (without). A DELETE of
 * an id that never existed answers 204 (200 with an informational OperationOutcome for
 * `Prefer: return=OperationOutcome`), writes nothing (no version, no history row) and is audited
 * as the delete it was; in a batch or transaction (http.html §3.1.0.11) the entry answers 204 the
 * same way. (Tokens bounded by a compartment keep the 404 that hides what they cannot see:
 * test/auth/deleted-resources.e2e-spec.ts.)
 */
describe('DELETE of an id that never existed (http.html#delete)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const rows = async (id: string) => {
    const r = await t.db.query('SELECT (SELECT count(*) FROM resource WHERE id = $1)::int AS cur, (SELECT count(*) FROM resource_history WHERE id = $1)::int AS hist', [id]);
    return r.rows[0];
  };

  it('answers 204, writes nothing, and the audit trail records the delete', async () => {
    const id = rid();
    const r = await t.http.delete('/fhir/Patient/never-was').set('X-Request-Id', id);
    expect(r.status).toBe(204);
    expect(r.headers.etag).toBeUndefined();
    expect(await rows('never-was')).toEqual({ cur: 0, hist: 0 });
    // still unknown to a read: nothing was created
    expect((await t.http.get('/fhir/Patient/never-was')).status).toBe(404);
    const events = await eventsOf(t, id);
    expect(events).toHaveLength(1);
    expect([subtypes(events[0]), events[0].action, events[0].outcome]).toEqual([['delete'], 'D', '0']);
  });

  it('Prefer: return=OperationOutcome: 200 with an informational issue', async () => {
    const r = await t.http.delete('/fhir/Observation/never-was-2').set('Prefer', 'return=OperationOutcome');
    expect(r.status).toBe(200);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect(r.body.issue[0]).toMatchObject({ severity: 'information', code: 'informational' });
    expect(r.body.issue[0].diagnostics).toMatch(/does not exist/);
  });

  it('with If-Match there is no version to match: 412, nothing written', async () => {
    const r = await t.http.delete('/fhir/Patient/never-was-3').set('If-Match', 'W/"1"');
    expect(r.status).toBe(412);
    expect(await rows('never-was-3')).toEqual({ cur: 0, hist: 0 });
  });

  it('an existing resource is still deleted (204 with ETag) and a second delete changes nothing', async () => {
    const made = await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient' });
    const first = await t.http.delete(`/fhir/Patient/${made.body.id}`);
    expect([first.status, first.headers.etag]).toEqual([204, 'W/"2"']);
    expect((await t.http.delete(`/fhir/Patient/${made.body.id}`)).status).toBe(204);
    expect((await rows(made.body.id)).hist).toBe(2);
    expect((await t.http.get(`/fhir/Patient/${made.body.id}`)).status).toBe(410);
  });

  it('batch and transaction entries: 204 for the id that never existed, nothing written for it, audited', async () => {
    for (const type of ['batch', 'transaction']) {
      const id = rid();
      const missing = `never-${type}`;
      const r = await t.http
        .post('/fhir')
        .set('X-Request-Id', id)
        .send({
          resourceType: 'Bundle',
          type,
          entry: [
            { request: { method: 'DELETE', url: `Patient/${missing}` } },
            { fullUrl: 'urn:uuid:0b5e6c4e-0000-4000-8000-000000000001', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          ],
        });
      expect(r.status).toBe(200);
      expect(r.body.entry[0].response.status).toMatch(/^204/);
      expect(r.body.entry[0].response.etag).toBeUndefined();
      expect(r.body.entry[1].response.status).toMatch(/^201/);
      expect(await rows(missing)).toEqual({ cur: 0, hist: 0 });
      const deletes = (await eventsOf(t, id)).filter((e) => subtypes(e)[0] === 'delete');
      expect(deletes.map((e) => [e.action, e.outcome, e.entity?.some((x) => x.what?.reference === `Patient/${missing}`)])).toEqual([['D', '0', true]]);
    }
  });

  it('a transaction entry with If-Match on an id that never existed fails the transaction (412)', async () => {
    const r = await t.http.post('/fhir').send({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ request: { method: 'DELETE', url: 'Patient/never-tx-412', ifMatch: 'W/"1"' } }],
    });
    expect(r.status).toBe(412);
  });
});

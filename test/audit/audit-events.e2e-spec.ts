import { FHIR_JSON, startTestApp, TestApp } from '../helpers/test-app';
import { entityRefs, eventOf, eventsOf, patientRefs, queryOf, requestIdOf, rid, subtypes } from './audit-helpers';

// Every FHIR interaction is recorded as an AuditEvent following IHE BALP
// (R4 auditevent.html; BALP "Basic AuditEvent" patterns: type rest, subtype =
// restful-interaction code, action C/R/U/D/E, outcome 0/4/8/12, entity with
// the resource version, the query of a search, the Patient as its own entity).
describe('AuditEvent for each FHIR interaction (IHE BALP)', () => {
  let t: TestApp;
  let patientId: string;
  beforeAll(async () => {
    t = await startTestApp();
    const p = await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Audited' }] });
    patientId = p.body.id;
  });
  afterAll(async () => t.close());

  const observation = () => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'heart rate' },
    subject: { reference: `Patient/${patientId}` },
  });

  it('create: subtype create, action C, the new version as entity, in the write transaction itself', async () => {
    const id = rid();
    const res = await t.http.post('/fhir/Observation').set('X-Request-Id', id).send(observation());
    expect(res.status).toBe(201);
    const e = await eventOf(t, id);
    expect(e.type.code).toBe('rest');
    expect(subtypes(e)).toEqual(['create']);
    expect(e.action).toBe('C');
    expect(e.outcome).toBe('0');
    expect(entityRefs(e)).toContain(`Observation/${res.body.id}/_history/1`);
    expect(patientRefs(e)).toEqual([`Patient/${patientId}`]);
    expect(requestIdOf(e)).toBe(id);
    expect(e.agent.find((a) => a.network)?.network?.address).toMatch(/127\.0\.0\.1|::1/);
    expect(e.source.observer.display).toBe(t.baseUrl);
    // same database transaction as the resource version (architecture: writes audit in the same transaction)
    const tx = await t.db.query(
      `SELECT (SELECT tx FROM audit_event WHERE request_id = $1)::text AS audit,
              (SELECT tx_id FROM resource_history WHERE resource_type = 'Observation' AND id = $2)::text AS resource`,
      [id, res.body.id],
    );
    expect(tx.rows[0].audit).toBe(tx.rows[0].resource);
    // never the resource content
    expect(JSON.stringify(e)).not.toContain('heart rate');
  });

  it('read and vread: subtype read / vread, action R, entity with version', async () => {
    const id = rid();
    expect((await t.http.get(`/fhir/Patient/${patientId}`).set('X-Request-Id', id)).status).toBe(200);
    const read = await eventOf(t, id);
    expect(subtypes(read)).toEqual(['read']);
    expect(read.action).toBe('R');
    expect(entityRefs(read)).toContain(`Patient/${patientId}/_history/1`);
    expect(patientRefs(read)).toEqual([`Patient/${patientId}`]);
    const vid = rid();
    expect((await t.http.get(`/fhir/Patient/${patientId}/_history/1`).set('X-Request-Id', vid)).status).toBe(200);
    const vread = await eventOf(t, vid);
    expect(subtypes(vread)).toEqual(['vread']);
    expect(entityRefs(vread)).toContain(`Patient/${patientId}/_history/1`);
  });

  it('read of an Observation names its Patient (accounting of disclosures)', async () => {
    const obs = (await t.http.post('/fhir/Observation').send(observation())).body;
    const id = rid();
    await t.http.get(`/fhir/Observation/${obs.id}`).set('X-Request-Id', id);
    expect(patientRefs(await eventOf(t, id))).toEqual([`Patient/${patientId}`]);
  });

  it('update, update-as-create, patch and delete: U, C, U, D with the version written', async () => {
    const obs = (await t.http.post('/fhir/Observation').send(observation())).body;
    const u = rid();
    const upd = await t.http.put(`/fhir/Observation/${obs.id}`).set('X-Request-Id', u).send({ ...observation(), id: obs.id, status: 'amended' });
    expect(upd.status).toBe(200);
    const ue = await eventOf(t, u);
    expect([subtypes(ue), ue.action]).toEqual([['update'], 'U']);
    expect(entityRefs(ue)).toContain(`Observation/${obs.id}/_history/2`);

    const c = rid();
    const created = await t.http.put('/fhir/Observation/audit-client-id').set('X-Request-Id', c).send({ ...observation(), id: 'audit-client-id' });
    expect(created.status).toBe(201);
    const ce = await eventOf(t, c);
    expect([subtypes(ce), ce.action]).toEqual([['update'], 'C']);

    const p = rid();
    const patched = await t.http
      .patch(`/fhir/Observation/${obs.id}`)
      .set('X-Request-Id', p)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify([{ op: 'replace', path: '/status', value: 'corrected' }]));
    expect(patched.status).toBe(200);
    const pe = await eventOf(t, p);
    expect([subtypes(pe), pe.action]).toEqual([['patch'], 'U']);
    expect(entityRefs(pe)).toContain(`Observation/${obs.id}/_history/3`);

    const d = rid();
    expect((await t.http.delete(`/fhir/Observation/${obs.id}`).set('X-Request-Id', d)).status).toBe(204);
    const de = await eventOf(t, d);
    expect([subtypes(de), de.action, de.outcome]).toEqual([['delete'], 'D', '0']);
    expect(entityRefs(de)).toContain(`Observation/${obs.id}/_history/4`);
    // the Patient comes from the version the delete replaced
    expect(patientRefs(de)).toEqual([`Patient/${patientId}`]);

    // deleting it again changes nothing but is still an access
    const again = rid();
    await t.http.delete(`/fhir/Observation/${obs.id}`).set('X-Request-Id', again);
    expect(subtypes(await eventOf(t, again))).toEqual(['delete']);
  });

  it('search: subtype search-type, action E, the query as an entity, GET and POST _search', async () => {
    const id = rid();
    const res = await t.http.get(`/fhir/Observation?subject=Patient/${patientId}&status=final`).set('X-Request-Id', id);
    const e = await eventOf(t, id);
    expect(subtypes(e)).toEqual(['search-type']);
    expect(e.action).toBe('E');
    expect(queryOf(e)).toBe(`subject=Patient/${patientId}&status=final`);
    expect(patientRefs(e)).toContain(`Patient/${patientId}`);
    expect(e.outcome).toBe(res.status < 400 ? '0' : res.status < 500 ? '4' : '8');

    const post = rid();
    await t.http.post('/fhir/Patient/_search').set('X-Request-Id', post).type('form').send({ family: 'Audited' });
    const pe = await eventOf(t, post);
    expect(subtypes(pe)).toEqual(['search-type']);
    expect(queryOf(pe)).toBe('family=Audited');

    const sys = rid();
    await t.http.get('/fhir?_type=Patient').set('X-Request-Id', sys);
    expect(subtypes(await eventOf(t, sys))).toEqual(['search-system']);

    const comp = rid();
    await t.http.get(`/fhir/Patient/${patientId}/Observation`).set('X-Request-Id', comp);
    const ce = await eventOf(t, comp);
    expect(subtypes(ce)).toEqual(['search-type']);
    expect(patientRefs(ce)).toContain(`Patient/${patientId}`);
  });

  // BALP Query (IHE.BasicAudit.Query): entity[query] carries the search as received, so the type searched
  // is never lost: a compartment search names it in the path; a type-level interaction without a query
  // still names its type (R4 AuditEventEntityType includes the resource types)
  it('the type concerned is recorded: compartment searches, searches without parameters, type-level history and operations', async () => {
    const comp = rid();
    await t.http.get(`/fhir/Patient/${patientId}/Observation?status=final`).set('X-Request-Id', comp);
    const ce = await eventOf(t, comp);
    expect(queryOf(ce)).toBe(`Patient/${patientId}/Observation?status=final`);
    expect(ce.entity?.find((x) => x.query)?.description).toBe(`search in the compartment of Patient/${patientId}`);
    const bare = rid();
    await t.http.get(`/fhir/Patient/${patientId}/Condition`).set('X-Request-Id', bare);
    expect(queryOf(await eventOf(t, bare))).toBe(`Patient/${patientId}/Condition`);
    const typeOf = (e: any) => (e.entity ?? []).find((x: any) => x.type?.system === 'http://hl7.org/fhir/resource-types')?.type?.code;
    for (const [method, url] of [['get', '/fhir/Observation'], ['get', '/fhir/Observation/_history'], ['post', '/fhir/Observation/$validate']] as const) {
      const id = rid();
      await (t.http as any)[method](url).set('X-Request-Id', id).send(method === 'post' ? observation() : undefined);
      expect([url, typeOf(await eventOf(t, id))]).toEqual([url, 'Observation']);
    }
  });

  it('history at instance, type and system level; capabilities', async () => {
    for (const [url, code] of [
      [`/fhir/Patient/${patientId}/_history`, 'history-instance'],
      ['/fhir/Patient/_history', 'history-type'],
      ['/fhir/_history', 'history-system'],
      ['/fhir/metadata', 'capabilities'],
    ]) {
      const id = rid();
      expect((await t.http.get(url).set('X-Request-Id', id)).status).toBe(200);
      const e = await eventOf(t, id);
      expect([subtypes(e), e.action, e.outcome]).toEqual([[code], 'R', '0']);
    }
  });

  it('operations: subtype operation and the operation name, action E', async () => {
    const id = rid();
    const res = await t.http
      .post('/fhir/Patient/$validate')
      .set('X-Request-Id', id)
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { resourceType: 'Patient' } }] });
    const e = await eventOf(t, id);
    expect(subtypes(e)).toEqual(['operation', '$validate']);
    expect(e.action).toBe('E');
    expect(e.outcome).toBe(res.status < 400 ? '0' : '4');
  });

  it('Binary download: read of the Binary, whether served raw or streamed', async () => {
    const b = await t.http
      .post('/fhir/Binary')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('hello').toString('base64') });
    expect(b.status).toBe(201);
    const id = rid();
    const raw = await t.http.get(`/fhir/Binary/${b.body.id}`).set('Accept', 'text/plain').set('X-Request-Id', id);
    expect(raw.status).toBe(200);
    expect(raw.text).toBe('hello');
    const e = await eventOf(t, id);
    expect(subtypes(e)).toEqual(['read']);
    expect(entityRefs(e)).toContain(`Binary/${b.body.id}/_history/1`);
  });

  // BALP PatientRead: the Patient the data is about is its own entity; for a raw Binary download that is its
  // securityContext (http.html#binary, answered as X-Security-Context), not in the bytes sent
  it('Binary download of a patient document names the Patient of its securityContext', async () => {
    const b = await t.http.post('/fhir/Binary').set('Content-Type', 'text/plain').set('X-Security-Context', `Patient/${patientId}`).send('a report');
    expect(b.status).toBe(201);
    const binaryId = /Binary\/([^/]+)/.exec(b.headers.location)![1];
    for (const url of [`/fhir/Binary/${binaryId}`, `/fhir/Binary/${binaryId}/_history/1`]) {
      const id = rid();
      const raw = await t.http.get(url).set('Accept', 'text/plain').set('X-Request-Id', id);
      expect(raw.text).toBe('a report');
      expect([url, patientRefs(await eventOf(t, id))]).toEqual([url, [`Patient/${patientId}`]]);
    }
  });

  it('batch: the Bundle itself and each read entry', async () => {
    const id = rid();
    const res = await t.http
      .post('/fhir')
      .set('X-Request-Id', id)
      .set('Content-Type', FHIR_JSON)
      .send({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Patient/${patientId}` } },
          { request: { method: 'GET', url: 'Patient/no-such-patient' } },
        ],
      });
    expect(res.status).toBe(200);
    const events = await eventsOf(t, id);
    expect(events.map(subtypes).sort()).toEqual([['batch'], ['read'], ['read']]);
    const reads = events.filter((e) => subtypes(e)[0] === 'read');
    const ok = reads.find((e) => e.outcome === '0')!;
    expect(entityRefs(ok)).toContain(`Patient/${patientId}/_history/1`);
    const missing = reads.find((e) => e.outcome === '4')!;
    expect(entityRefs(missing)).toContain('Patient/no-such-patient');
    expect(missing.outcomeDesc).toMatch(/^404/);
  });

  it('failures are audited with outcome 4 / 8 and a description: 404, 410, 400, 412, 415, 406, 405', async () => {
    const gone = (await t.http.post('/fhir/Observation').send(observation())).body;
    await t.http.delete(`/fhir/Observation/${gone.id}`);
    const cases: [string, () => any, number, string][] = [
      ['404', () => t.http.get('/fhir/Patient/does-not-exist'), 404, 'read'],
      ['410', () => t.http.get(`/fhir/Observation/${gone.id}`), 410, 'read'],
      ['400', () => t.http.post('/fhir/Patient').send({ resourceType: 'Observation' }), 400, 'create'],
      ['412', () => t.http.put(`/fhir/Patient/${patientId}`).set('If-Match', 'W/"99"').send({ resourceType: 'Patient', id: patientId }), 412, 'update'],
      ['415', () => t.http.post('/fhir/Patient').set('Content-Type', 'application/xml').send('<Patient/>'), 415, 'create'],
      ['406', () => t.http.get(`/fhir/Patient/${patientId}?_format=xml`), 406, 'read'],
      ['405', () => t.http.post('/fhir/AuditEvent').send({ resourceType: 'AuditEvent' }), 405, 'create'],
    ];
    for (const [, run, status, subtype] of cases) {
      const id = rid();
      const res = await run().set('X-Request-Id', id);
      expect(res.status).toBe(status);
      const e = await eventOf(t, id);
      expect(subtypes(e)).toEqual([subtype]);
      expect(e.outcome).toBe('4');
      expect(e.outcomeDesc).toMatch(new RegExp(`^${status}`));
    }
  });
});

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FHIR_JSON, startTestApp, TestApp } from '../helpers/test-app';
import { entityRefs, eventOf, eventsOf, patientRefs, queryOf, rid, subtypes } from './audit-helpers';

// Each batch/transaction entry is audited (its write in the same database
// transaction as the entry), conditional interactions once, and Bulk Data
// export kick-off, status and file downloads as operations (issue "Audit trail").
describe('AuditEvents of bundles, conditional interactions and Bulk Data export', () => {
  let t: TestApp;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-export-'));
    // one database session, as the embedded database has: a transaction's GET entry on the trail must
    // use the transaction's connection, not wait for a second one (a deadlock CI would not see otherwise)
    t = await startTestApp({ DATA_DIR: dataDir, DB_POOL_SIZE: '1' });
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const post = (body: object, id: string) => t.http.post('/fhir').set('X-Request-Id', id).set('Content-Type', FHIR_JSON).send(body);

  it('transaction: the Bundle and every entry, each write in the transaction that wrote it (http.html §3.1.0.11)', async () => {
    const id = rid();
    const res = await post(
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:p', resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:p' } },
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      },
      id,
    );
    expect(res.status).toBe(200);
    const [patient, observation] = res.body.entry.map((e: any) => e.response.location.split('/_history')[0]);
    const events = await eventsOf(t, id);
    expect(events.map(subtypes).sort()).toEqual([['create'], ['create'], ['transaction']]);
    const obsEvent = events.find((e) => entityRefs(e).includes(`${observation}/_history/1`))!;
    expect(patientRefs(obsEvent)).toEqual([patient]);
    const tx = await t.db.query(
      `SELECT DISTINCT a.tx::text AS audit, h.tx_id::text AS resource FROM audit_event a
         JOIN resource_history h ON h.resource_type = a.entity_type AND h.id = a.entity_id AND h.version_id = a.entity_version
        WHERE a.request_id = $1`,
      [id],
    );
    expect(tx.rows).toHaveLength(1);
    expect(tx.rows[0].audit).toBe(tx.rows[0].resource);
  });

  it('a failed transaction leaves one failure event and no entry events (nothing was written)', async () => {
    const id = rid();
    const res = await post(
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Patient', birthDate: 'never' }, request: { method: 'POST', url: 'Patient' } },
        ],
      },
      id,
    );
    expect(res.status).toBeGreaterThanOrEqual(400);
    const e = await eventOf(t, id);
    expect(subtypes(e)).toEqual(['transaction']);
    expect(e.outcome).toBe('4');
  });

  it('batch: a write entry and a read entry each have their event', async () => {
    const id = rid();
    const res = await post(
      {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: 'Batch' }] }, request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'GET', url: 'Patient?family=Batch' } },
        ],
      },
      id,
    );
    expect(res.status).toBe(200);
    expect((await eventsOf(t, id)).map(subtypes).sort()).toEqual([['batch'], ['create'], ['search-type']]);
  });

  it('a batch whose entries are not objects still answers (each entry a 400) and is audited: the audit trail is not the one to fail', async () => {
    const id = rid();
    const res = await post({ resourceType: 'Bundle', type: 'batch', entry: [null, 'x', { request: { method: 'GET', url: 'Patient?family=None' } }] }, id);
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['400', '400', '200']);
    // the two malformed entries are failed entries of the batch (no interaction to name), outcome 4
    const events = await eventsOf(t, id);
    expect(events.map(subtypes).sort()).toEqual([['batch'], ['batch'], ['batch'], ['search-type']]);
    expect(events.filter((e) => e.outcome === '4')).toHaveLength(2);
  });

  it('batch: each operation entry is an operation event, with the Patient it concerns; a version it writes has its own (written like a patch)', async () => {
    const p = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient' })).body.id;
    const id = rid();
    const res = await post(
      {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Patient/${p}/$everything` } },
          { resource: { resourceType: 'Observation', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation/$validate' } },
          {
            resource: { resourceType: 'Parameters', parameter: [{ name: 'meta', valueMeta: { tag: [{ system: 'urn:t', code: 'op' }] } }] },
            request: { method: 'POST', url: `Patient/${p}/$meta-add` },
          },
        ],
      },
      id,
    );
    expect(res.body.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['200', '200', '200']);
    const events = await eventsOf(t, id);
    expect(events.map(subtypes).sort()).toEqual([['batch'], ['operation', '$everything'], ['operation', '$meta-add'], ['operation', '$validate'], ['patch']]);
    const everything = events.find((e) => subtypes(e)[1] === '$everything')!;
    expect(patientRefs(everything)).toEqual([`Patient/${p}`]);
    expect(events.find((e) => subtypes(e)[0] === 'patch')!.action).toBe('U');
    expect(everything.action).toBe('E');
  });

  it('an AuditEvent cannot be written through a Bundle either (405 for the entry)', async () => {
    const res = await post(
      { resourceType: 'Bundle', type: 'batch', entry: [{ resource: { resourceType: 'AuditEvent' }, request: { method: 'POST', url: 'AuditEvent' } }] },
      rid(),
    );
    expect(res.status).toBe(200);
    expect(res.body.entry[0].response.status).toMatch(/^405/);
    const stored = await t.db.query(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'AuditEvent'`);
    expect(stored.rows[0].n).toBe(0);
  });

  it('conditional create: one event, whether it creates or finds the match', async () => {
    const body = { resourceType: 'Patient', identifier: [{ system: 'urn:audit', value: 'cond-1' }] };
    for (const status of [201, 200]) {
      const id = rid();
      const res = await t.http.post('/fhir/Patient').set('X-Request-Id', id).set('If-None-Exist', 'identifier=urn:audit|cond-1').send(body);
      expect(res.status).toBe(status);
      const e = await eventOf(t, id);
      expect(subtypes(e)).toEqual(['create']);
    }
  });

  it('GET entries on AuditEvent are answered from the trail, as the same REST requests (http.html#transaction)', async () => {
    const p = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient' })).body;
    await t.http.get(`/fhir/Patient/${p.id}`);
    const [row] = (await t.db.query(`SELECT id::text FROM audit_event WHERE $1 = ANY(patient) ORDER BY recorded DESC LIMIT 1`, [p.id])).rows;
    const direct = await t.http.get(`/fhir/AuditEvent?patient=Patient/${p.id}&_total=accurate`);
    for (const type of ['batch', 'transaction']) {
      const res = await post(
        {
          resourceType: 'Bundle',
          type,
          entry: [
            { request: { method: 'GET', url: `AuditEvent/${row.id}` } },
            { request: { method: 'GET', url: `AuditEvent?patient=Patient/${p.id}&_total=accurate` } },
            { request: { method: 'GET', url: `Patient/${p.id}/AuditEvent?_total=accurate` } },
          ],
        },
        rid(),
      );
      expect(res.status).toBe(200);
      const [read, search, compartment] = res.body.entry;
      expect([read.response.status, read.resource.id]).toEqual(['200 OK', row.id]);
      // every access adds events about the Patient (the direct search too): at least as many as before, the same in one Bundle
      expect(search.resource.total).toBeGreaterThanOrEqual(direct.body.total);
      expect(direct.body.total).toBeGreaterThan(0);
      expect(compartment.resource.total).toBe(search.resource.total);
    }
  });

  it('Bulk Data: kick-off, status and file download are audited operations', async () => {
    await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Exported' }] });
    const kickId = rid();
    const kick = await t.http.get('/fhir/$export?_type=Patient').set({ Prefer: 'respond-async', Accept: 'application/fhir+json' }).set('X-Request-Id', kickId);
    expect(kick.status).toBe(202);
    const kickEvent = await eventOf(t, kickId);
    expect(subtypes(kickEvent)).toEqual(['operation', '$export']);
    // what was asked for and which file was downloaded (BALP: the request as received, entity role Query)
    expect(queryOf(kickEvent)).toBe('_type=Patient');
    const statusUrl = kick.headers['content-location'].slice(t.config.publicUrl.length);
    let manifest: any;
    for (let i = 0; i < 200 && !manifest; i++) {
      const r = await t.http.get(statusUrl).set('Accept', 'application/json');
      if (r.status === 200) manifest = r.body;
      else await new Promise((ok) => setTimeout(ok, 100));
    }
    expect(manifest).toBeDefined();
    const fileId = rid();
    const file = await t.http.get(manifest.output[0].url.slice(t.config.publicUrl.length)).set('X-Request-Id', fileId).buffer(true);
    expect(file.status).toBe(200);
    const e = await eventOf(t, fileId);
    expect(subtypes(e)).toEqual(['operation', '$export-file']);
    expect(e.outcome).toBe('0');
    expect(queryOf(e)).toBe(new URL(manifest.output[0].url).search.slice(1));
    expect(e.entity?.find((x) => x.query)?.description).toBe('parameters of $export-file');
  });

  // Bulk Data: DELETE on the status URL deletes the job and its files; BALP records what the method did (action D)
  it('Bulk Data: cancelling an export (DELETE on the status URL) is action D, polling stays E', async () => {
    const kick = await t.http.get('/fhir/$export?_type=Patient').set({ Prefer: 'respond-async', Accept: 'application/fhir+json' });
    expect(kick.status).toBe(202);
    const statusUrl = kick.headers['content-location'].slice(t.config.publicUrl.length);
    const pollId = rid();
    expect((await t.http.get(statusUrl).set('Accept', 'application/json').set('X-Request-Id', pollId)).status).toBeLessThan(300);
    const cancelId = rid();
    expect((await t.http.delete(statusUrl).set('X-Request-Id', cancelId)).status).toBe(202);
    const cancel = await eventOf(t, cancelId);
    expect(subtypes(cancel)).toEqual(['operation', '$export-poll-status']);
    expect(cancel.action).toBe('D');
    expect(cancel.outcome).toBe('0');
    expect((await eventOf(t, pollId)).action).toBe('E');
  });
});

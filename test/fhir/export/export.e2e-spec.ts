import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ExportService } from '../../../src/fhir/export/export.service';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { countByType, loadBundles, sleep, smallestBundles, syntheaAvailable } from './synthea';

const ASYNC = { Prefer: 'respond-async', Accept: 'application/fhir+json' };
const local = (t: TestApp, url: string) => url.slice(t.config.publicUrl.length);

/** Polls a status URL until the manifest (200) or an error; returns the final response. */
async function waitForManifest(t: TestApp, statusUrl: string, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await t.http.get(local(t, statusUrl)).set('Accept', 'application/json');
    if (r.status !== 202) return r;
    // bulk-data export.html "Bulk Data Status Request": 202 with X-Progress while in progress
    expect(r.headers['x-progress']).toBeDefined();
    expect(r.headers['retry-after']).toBeDefined();
    if (Date.now() > deadline) throw new Error('export did not finish');
    await sleep(150);
  }
}

async function download(t: TestApp, url: string): Promise<any[]> {
  const r = await t.http.get(local(t, url)).set('Accept', 'application/fhir+ndjson').buffer(true).parse((res, cb) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (text += c));
    res.on('end', () => cb(null, text));
  });
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('application/fhir+ndjson');
  return (r.body as string).split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

const describeSynthea = syntheaAvailable() ? describe : describe.skip;
if (!syntheaAvailable()) console.warn('Synthea fixtures not found (../shared/fixtures/synthea): Bulk Data tests skipped');

// Bulk Data Access IG 2.0.0, export.html
describeSynthea('Bulk Data $export (Bulk Data Access 2.0)', () => {
  let t: TestApp;
  let dataDir: string;
  const bundles = syntheaAvailable() ? smallestBundles(3) : [];
  const expected = countByType(bundles);
  let patientIds: string[] = [];

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'export-test-'));
    t = await startTestApp({ DATA_DIR: dataDir, BULK_EXPORT_PAGE_SIZE: '40' });
    const maps = await loadBundles(t, bundles);
    patientIds = maps.map((m) => [...m.values()].find((r) => r.startsWith('Patient/'))!.split('/')[1]);
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('system export: NDJSON line counts equal the per-type counts of the loaded Synthea bundles', async () => {
    const kick = await t.http.get('/fhir/$export').set(ASYNC);
    expect(kick.status).toBe(202);
    const statusUrl = kick.headers['content-location'];
    expect(statusUrl).toMatch(/^http:\/\/localhost:8080\/fhir\/\$export-poll-status\?_jobId=/); // absolute URL
    const done = await waitForManifest(t, statusUrl);
    expect(done.status).toBe(200);
    expect(done.headers['content-type']).toMatch(/^application\/json/);
    expect(done.headers.expires).toBeDefined();
    const manifest = done.body;
    expect(manifest.request).toBe(`${t.baseUrl}/$export`);
    expect(manifest.requiresAccessToken).toBe(true);
    expect(Date.parse(manifest.transactionTime)).toBeLessThanOrEqual(Date.now());
    expect(manifest.error).toEqual([]);
    const got: Record<string, number> = {};
    for (const out of manifest.output) {
      const lines = await download(t, out.url);
      expect(lines.length).toBe(out.count);
      expect(lines.every((r) => r.resourceType === out.type)).toBe(true);
      got[out.type] = lines.length;
    }
    expect(got).toEqual(expected);
  });

  it('_type and _since: only the named types changed since the given instant', async () => {
    const first = await waitForManifest(t, (await t.http.get('/fhir/$export?_type=Patient').set(ASYNC)).headers['content-location']);
    expect(first.body.output.map((o: any) => [o.type, o.count])).toEqual([['Patient', bundles.length]]);
    // change one patient after that export's transactionTime
    const p = (await t.http.get(`/fhir/Patient/${patientIds[0]}`)).body;
    await t.http.put(`/fhir/Patient/${p.id}`).send({ ...p, active: false });
    const since = encodeURIComponent(first.body.transactionTime);
    const later = await waitForManifest(
      t,
      (await t.http.get(`/fhir/$export?_type=Patient,Observation&_since=${since}&_outputFormat=application/fhir%2Bndjson`).set(ASYNC)).headers[
        'content-location'
      ],
    );
    expect(later.body.output.length).toBe(1);
    const lines = await download(t, later.body.output[0].url);
    expect(lines.map((r) => r.id)).toEqual([p.id]);
    expect(lines[0].active).toBe(false);
  });

  it('Patient level: the Patient compartment types only, all of them', async () => {
    const done = await waitForManifest(t, (await t.http.get('/fhir/Patient/$export').set(ASYNC)).headers['content-location']);
    const types = done.body.output.map((o: any) => o.type);
    expect(types).toContain('Patient');
    expect(types).toContain('Observation');
    expect(types).not.toContain('Organization');
    expect(types).not.toContain('Practitioner');
    for (const o of done.body.output) expect(o.count).toBe(expected[o.type]);
  });

  it('POST kick-off with Parameters (patient): only those patients\' compartments (Group and Patient level)', async () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueString: 'Patient,Encounter' },
        { name: 'patient', valueReference: { reference: `Patient/${patientIds[1]}` } },
      ],
    };
    const kick = await t.http.post('/fhir/Patient/$export').set(ASYNC).set('Content-Type', 'application/fhir+json').send(body);
    expect(kick.status).toBe(202);
    const done = await waitForManifest(t, kick.headers['content-location']);
    expect(done.status).toBe(200);
    expect(done.body.error).toEqual([]);
    const byType = Object.fromEntries(await Promise.all(done.body.output.map(async (o: any) => [o.type, await download(t, o.url)])));
    expect(byType.Patient.map((r: any) => r.id)).toEqual([patientIds[1]]);
    const encounters = bundles[1].entry!.filter((e) => e.resource!.resourceType === 'Encounter').length;
    expect(byType.Encounter.length).toBe(encounters);
    expect(byType.Encounter.every((e: any) => e.subject.reference === `Patient/${patientIds[1]}`)).toBe(true);

    // a Group of two of the patients
    const group = await t.http.post('/fhir/Group').send({
      resourceType: 'Group',
      type: 'person',
      actual: true,
      member: [{ entity: { reference: `Patient/${patientIds[0]}` } }, { entity: { reference: `Patient/${patientIds[2]}` } }],
    });
    const g = await waitForManifest(t, (await t.http.get(`/fhir/Group/${group.body.id}/$export?_type=Patient`).set(ASYNC)).headers['content-location']);
    const ids = (await download(t, g.body.output[0].url)).map((r) => r.id).sort();
    expect(ids).toEqual([patientIds[0], patientIds[2]].sort());
  });

  it('_typeFilter narrows a type with a search query', async () => {
    const kick = await t.http.get(`/fhir/$export?_type=Patient&_typeFilter=${encodeURIComponent(`Patient?_id=${patientIds[2]}`)}`).set(ASYNC);
    const done = await waitForManifest(t, kick.headers['content-location']);
    const lines = await download(t, done.body.output[0].url);
    expect(lines.map((r) => r.id)).toEqual([patientIds[2]]);
  });

  it('kick-off errors: no Prefer: respond-async, bad _outputFormat, unknown _type, unknown Group (400/404)', async () => {
    expect((await t.http.get('/fhir/$export')).status).toBe(400);
    expect((await t.http.get('/fhir/$export?_outputFormat=text/csv').set(ASYNC)).status).toBe(400);
    expect((await t.http.get('/fhir/$export?_type=Nonsense').set(ASYNC)).status).toBe(400);
    expect((await t.http.get('/fhir/$export?_since=yesterday').set(ASYNC)).status).toBe(400);
    expect((await t.http.get('/fhir/Group/missing/$export').set(ASYNC)).status).toBe(404);
    expect((await t.http.get('/fhir/$export-poll-status?_jobId=00000000-0000-0000-0000-000000000000')).status).toBe(404);
  });

  it('DELETE on the status URL cancels: 202, then polls answer 404 and the files are gone', async () => {
    const kick = await t.http.get('/fhir/$export').set(ASYNC);
    const statusUrl = kick.headers['content-location'];
    const id = new URL(statusUrl).searchParams.get('_jobId')!;
    const del = await t.http.delete(local(t, statusUrl));
    expect(del.status).toBe(202);
    expect((await t.http.get(local(t, statusUrl))).status).toBe(404);
    expect((await t.http.delete(local(t, statusUrl))).status).toBe(404);
    // a worker that had started stops at its next page or at the end (all types of a system export
    // without data take a query each: seconds on a loaded machine), and removes what it wrote
    const dir = t.app.get(ExportService).directory(id);
    for (let waited = 0; fs.existsSync(dir) && waited < 15_000; waited += 250) await sleep(250);
    expect(fs.existsSync(dir)).toBe(false);
    expect((await t.db.query('SELECT count(*)::int AS n FROM bulk_export_job WHERE id = $1', [id])).rows[0].n).toBe(0);
  });

  it('status and files belong to the client that kicked the export off (404 for another client)', async () => {
    const exports = t.app.get(ExportService);
    const base = { baseUrl: t.baseUrl, requestId: 'x', prefer: { respondAsync: true } };
    const owner = { clientId: 'ehr-sync', scopes: ['system/*.rs'], rules: [{ context: 'system' as const, resourceType: '*', interactions: new Set(['r', 's'] as const), filter: [] }], admin: false };
    const kick = await exports.kickOff({ ...base, auth: owner as any }, { level: 'system', params: [['_type', 'Patient']], request: `${t.baseUrl}/$export?_type=Patient` });
    const id = new URL(kick.headers!['Content-Location']).searchParams.get('_jobId')!;
    for (let i = 0; i < 200 && (await exports.status({ ...base, auth: owner as any }, id)).status === 202; i++) await sleep(100);
    const ok = await exports.status({ ...base, auth: owner as any }, id);
    expect(ok.status).toBe(200);
    await expect(exports.status({ ...base, auth: { ...owner, clientId: 'lab-portal' } as any }, id)).rejects.toMatchObject({ status: 404 });
    await expect(exports.status(base as any, id)).rejects.toMatchObject({ status: 404 });
    await expect(exports.filePath({ ...base, auth: { ...owner, clientId: 'lab-portal' } as any }, id, 'Patient.ndjson')).rejects.toMatchObject({ status: 404 });
    // a user-facing (patient/ or user/) token cannot start a bulk export
    const patientToken = { ...owner, clientId: 'demo-app', rules: [{ ...owner.rules[0], context: 'patient' as const }] };
    await expect(exports.kickOff({ ...base, auth: patientToken as any }, { level: 'system', params: [], request: 'x' })).rejects.toMatchObject({ status: 403 });
  });
});

describeSynthea('Bulk Data $export survives a server restart', () => {
  it('an export interrupted by a restart completes in the next process with exact counts', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'export-restart-'));
    const env = { DATA_DIR: dataDir, BULK_EXPORT_PAGE_SIZE: '5' };
    const first = await startTestApp(env);
    const bundles = smallestBundles(1);
    let statusUrl: string;
    try {
      await loadBundles(first, bundles);
      const kick = await first.http.get('/fhir/$export').set(ASYNC);
      expect(kick.status).toBe(202);
      statusUrl = kick.headers['content-location'];
    } catch (err) {
      await first.close();
      throw err;
    }
    // let it start, then stop the process mid-export (graceful shutdown interrupts the job)
    for (let i = 0; i < 100; i++) {
      const r = await first.http.get(local(first, statusUrl));
      if (r.headers['x-progress'] && r.headers['x-progress'] !== 'queued') break;
      await sleep(20);
    }
    await first.app.close();
    const second = await startTestApp({ ...env, DATABASE_SCHEMA: first.config.databaseSchema! });
    try {
      const done = await waitForManifest(second, statusUrl);
      expect(done.status).toBe(200);
      const got: Record<string, number> = {};
      for (const out of done.body.output) got[out.type] = (await download(second, out.url)).length;
      expect(got).toEqual(countByType(bundles));
    } finally {
      await second.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('Bulk Data $export expiry (BULK_EXPORT_EXPIRY_SECONDS)', () => {
  it('a finished export answers 404 after its expiry, and the sweep removes its files', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'export-expiry-'));
    const t = await startTestApp({ DATA_DIR: dataDir, BULK_EXPORT_EXPIRY_SECONDS: '2' });
    try {
      await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Expiring' }] });
      const kick = await t.http.get('/fhir/$export?_type=Patient').set(ASYNC);
      const statusUrl = kick.headers['content-location'];
      const done = await waitForManifest(t, statusUrl);
      expect(done.status).toBe(200);
      const id = new URL(statusUrl).searchParams.get('_jobId')!;
      const exports = t.app.get(ExportService);
      expect(fs.existsSync(path.join(exports.directory(id, 1), 'Patient.ndjson'))).toBe(true);
      await sleep(2500);
      expect((await t.http.get(local(t, statusUrl))).status).toBe(404);
      expect((await t.http.get(local(t, done.body.output[0].url)).set('Accept', 'application/fhir+ndjson')).status).toBe(404);
      await exports.sweep();
      expect(fs.existsSync(exports.directory(id))).toBe(false);
    } finally {
      await t.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('Bulk Data $export after a crashed worker', () => {
  it('an export whose run stopped beating (its process died) is taken over and completes; the old run cannot finish it', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'export-stalled-'));
    const t = await startTestApp({ DATA_DIR: dataDir });
    try {
      for (let i = 0; i < 3; i++) await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: `Crash${i}` }] });
      const exports = t.app.get(ExportService);
      // the state a SIGKILL leaves: a job claimed by a run (attempt 1) whose heartbeat stopped, its queue job stuck
      const id = '11111111-2222-4333-8444-555555555555';
      await exports.jobs.insert(t.db, {
        id,
        clientId: null,
        request: `${t.baseUrl}/$export?_type=Patient`,
        params: { level: 'system', types: ['Patient'], filters: {} },
        transactionTime: new Date(),
        expiresAt: exports.expiry(),
      });
      const dead = await exports.jobs.claim(t.db, id);
      await t.db.query(`UPDATE bulk_export_job SET heartbeat_at = now() - interval '10 minutes' WHERE id = $1`, [id]);
      expect(await exports.recoverStalled()).toEqual([id]);
      expect(await exports.recoverStalled()).toEqual([]); // re-queued once
      const done = await waitForManifest(t, `${t.baseUrl}/$export-poll-status?_jobId=${id}`);
      expect(done.status).toBe(200);
      expect(done.body.output).toEqual([expect.objectContaining({ type: 'Patient', count: 3 })]);
      expect((await download(t, done.body.output[0].url)).length).toBe(3);
      // the dead run, were it only slow, has lost its claim
      expect(await exports.jobs.progress(t.db, id, dead!, 'late')).toBe(false);
    } finally {
      await t.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BOB_MARKER, loadFixtures, tokenFor } from '../../auth/scope-fixtures';
import { backendToken, SmartApp, startSmartApp } from '../../auth/smart-helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The operations under real SMART tokens (auth on): Bulk Data export belongs
 * to the backend client that started it (Bulk Data IG 2.0 "requiresAccessToken",
 * SMART Backend Services), and $everything / $lastn never leave the token's
 * patient compartment (SMART App Launch 2.0 scopes).
 */
describe('clinical operations with SMART tokens', () => {
  let s: SmartApp;
  let dataDir: string;
  const tok: Record<string, string> = {};
  const get = (t: string | undefined, url: string) => {
    const r = s.http.get(url);
    return t ? r.set('Authorization', `Bearer ${tok[t]}`) : r;
  };

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ops-tokens-'));
    s = await startSmartApp({ DATA_DIR: dataDir });
    tok.admin = await loadFixtures(s);
    tok.ehr = (await backendToken(s, 'system/*.rs', 'ehr-sync')).body.access_token;
    tok.other = (await backendToken(s, 'system/*.rs', 'ec-backend')).body.access_token;
    tok.obsOnly = (await backendToken(s, 'system/Observation.rs', 'ec-backend')).body.access_token;
    tok.alice = await tokenFor(s, 'alice', 'patient/*.rs');
  });
  afterAll(async () => {
    await s?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('$export: status and files answer only the client that kicked it off; no token is 401', async () => {
    const kick = await get('ehr', '/fhir/$export?_type=Patient,Observation').set('Prefer', 'respond-async');
    expect(kick.status).toBe(202);
    const status = kick.headers['content-location'].slice(s.config.publicUrl.length);
    let r = await get('ehr', status);
    for (let i = 0; i < 200 && r.status === 202; i++) {
      await sleep(100);
      r = await get('ehr', status);
    }
    expect(r.status).toBe(200);
    expect(r.body.requiresAccessToken).toBe(true);
    expect((await get('other', status)).status).toBe(404);
    expect((await get(undefined, status)).status).toBe(401);
    const file = r.body.output.find((o: any) => o.type === 'Observation').url.slice(s.config.publicUrl.length);
    const mine = await get('ehr', file).set('Accept', 'application/fhir+ndjson');
    expect(mine.status).toBe(200);
    expect((await get('other', file).set('Accept', 'application/fhir+ndjson')).status).toBe(404);
    expect((await s.http.delete(status).set('Authorization', `Bearer ${tok.other}`)).status).toBe(404);
  });

  it('$export: a patient-facing token may not start one (403); system scopes bound the types', async () => {
    expect((await get('alice', '/fhir/$export').set('Prefer', 'respond-async')).status).toBe(403);
    expect((await get('obsOnly', '/fhir/$export?_type=Patient').set('Prefer', 'respond-async')).status).toBe(403);
    const kick = await get('obsOnly', '/fhir/$export').set('Prefer', 'respond-async');
    expect(kick.status).toBe(202);
    const status = kick.headers['content-location'].slice(s.config.publicUrl.length);
    let r = await get('obsOnly', status);
    for (let i = 0; i < 200 && r.status === 202; i++) {
      await sleep(100);
      r = await get('obsOnly', status);
    }
    expect(r.body.output.map((o: any) => o.type)).toEqual(['Observation']);
  });

  it('$export needs search permission on each type, like GET [type]: system/Patient.r alone exports no Patient', async () => {
    // SMART v2 scopes: r = read by id, s = search; an export enumerates the type (a search)
    const ro = (await backendToken(s, 'system/Observation.rs system/Patient.r', 'ec-backend')).body.access_token;
    const as = (url: string) => s.http.get(url).set('Authorization', `Bearer ${ro}`).set('Prefer', 'respond-async');
    expect((await s.http.get('/fhir/Patient').set('Authorization', `Bearer ${ro}`)).status).toBe(403);
    expect((await as('/fhir/$export?_type=Observation,Patient')).status).toBe(403);
    expect((await as('/fhir/Patient/$export')).status).toBe(403);
    const kick = await as('/fhir/$export');
    expect(kick.status).toBe(202);
    const status = kick.headers['content-location'].slice(s.config.publicUrl.length);
    let r = await s.http.get(status).set('Authorization', `Bearer ${ro}`);
    for (let i = 0; i < 200 && r.status === 202; i++) {
      await sleep(100);
      r = await s.http.get(status).set('Authorization', `Bearer ${ro}`);
    }
    expect(r.body.output.map((o: any) => o.type)).toEqual(['Observation']);
    const readOnly = (await backendToken(s, 'system/Patient.r', 'ec-backend')).body.access_token;
    expect((await s.http.get('/fhir/$export').set('Authorization', `Bearer ${readOnly}`).set('Prefer', 'respond-async')).status).toBe(403);
  });

  it('a DocumentReference attachment (Binary with securityContext) downloads with the same patient token, another patient\'s does not', async () => {
    const admin = (url: string) => s.http.put(url).set('Authorization', `Bearer ${tok.admin}`);
    for (const who of ['alice', 'bob']) {
      const doc = await admin(`/fhir/DocumentReference/doc-${who}`).set('Content-Type', 'application/fhir+json').send({
        resourceType: 'DocumentReference',
        id: `doc-${who}`,
        status: 'current',
        type: { coding: [{ system: 'http://loinc.org', code: '11502-2' }] },
        subject: { reference: `Patient/${who}` },
        content: [{ attachment: { contentType: 'application/pdf', url: `${s.baseUrl}/Binary/pdf-${who}` } }],
      });
      expect(doc.status).toBeLessThan(300);
      const bin = await admin(`/fhir/Binary/pdf-${who}`)
        .set('Content-Type', 'application/pdf')
        .set('X-Security-Context', `DocumentReference/doc-${who}`)
        .send(Buffer.from(`%PDF-1.4 ${who === 'bob' ? BOB_MARKER : 'alice report'}`));
      expect(bin.status).toBeLessThan(300);
    }
    const found = await get('alice', '/fhir/DocumentReference?patient=alice&type=http://loinc.org|11502-2');
    expect(found.body.entry.length).toBe(1);
    const url = found.body.entry[0].resource.content[0].attachment.url.slice(s.config.publicUrl.length);
    const pdf = await get('alice', url).set('Accept', 'application/pdf').buffer(true).parse((res, cb) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => cb(null, Buffer.concat(parts)));
    });
    expect(pdf.status).toBe(200);
    expect(pdf.body.toString()).toBe('%PDF-1.4 alice report');
    expect((await get('alice', '/fhir/Binary/pdf-bob').set('Accept', 'application/pdf')).status).toBe(404);
  });

  it('$everything and $lastn with a patient token stay in that patient\'s compartment', async () => {
    const own = await get('alice', '/fhir/Patient/alice/$everything');
    expect(own.status).toBe(200);
    const text = JSON.stringify(own.body);
    expect(text).not.toContain(BOB_MARKER);
    expect(own.body.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`)).toEqual(
      expect.arrayContaining(['Patient/alice', 'Observation/obs-a-vital', 'Condition/cond-a']),
    );
    expect([403, 404]).toContain((await get('alice', '/fhir/Patient/bob/$everything')).status);
    const typeLevel = await get('alice', '/fhir/Patient/$everything');
    expect(JSON.stringify(typeLevel.body)).not.toContain(BOB_MARKER);
    const lastn = await get('alice', '/fhir/Observation/$lastn?patient=bob');
    expect(JSON.stringify(lastn.body)).not.toContain(BOB_MARKER);
    // Encounter-everything on Bob's encounter: not readable by Alice's token, so nothing of it either
    const enc = await get('alice', '/fhir/Encounter/enc-b/$everything');
    expect([403, 404]).toContain(enc.status);
    expect(JSON.stringify(enc.body)).not.toContain(BOB_MARKER);
    const ehr = await get('ehr', '/fhir/Encounter/enc-b/$everything');
    expect(ehr.status).toBe(200);
    expect(ehr.body.entry.map((e: any) => `${e.search.mode} ${e.resource.resourceType}/${e.resource.id}`)).toEqual(['match Encounter/enc-b', 'include Patient/bob']);
  });

  it('as batch entries the operations answer as over REST under the same token: no other patient\'s data, no write without a write scope', async () => {
    const tag = { resourceType: 'Parameters', parameter: [{ name: 'meta', valueMeta: { tag: [{ system: 'urn:t', code: 'x' }] } }] };
    const urls = ['Patient/alice/$everything', 'Patient/bob/$everything', 'Patient/$everything', 'Observation/$lastn?patient=bob'];
    const res = await s.http
      .post('/fhir')
      .set('Authorization', `Bearer ${tok.alice}`)
      .send({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [...urls.map((url) => ({ request: { method: 'GET', url } })), { resource: tag, request: { method: 'POST', url: 'Patient/alice/$meta-add' } }],
      });
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).not.toContain(BOB_MARKER);
    const statuses = res.body.entry.map((e: any) => Number.parseInt(e.response.status, 10));
    for (const [i, url] of urls.entries()) expect(statuses[i]).toBe((await get('alice', `/fhir/${url}`)).status);
    expect(statuses[4]).toBe(403); // patient/*.rs: $meta-add writes a version
    expect(res.body.entry[0].resource.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`)).toEqual(
      expect.arrayContaining(['Patient/alice', 'Observation/obs-a-vital', 'Condition/cond-a']),
    );
    expect((await get('admin', '/fhir/Patient/alice')).body.meta.tag ?? []).not.toContainEqual({ system: 'urn:t', code: 'x' });
  });
});

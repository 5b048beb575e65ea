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
    await loadFixtures(s);
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
  });
});

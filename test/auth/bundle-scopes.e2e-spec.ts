import { FHIR_JSON } from '../helpers/test-app';
import { BOB_MARKER, loadFixtures, obs, tokenFor } from './scope-fixtures';
import { SmartApp, startSmartApp } from './smart-helpers';

const VITAL = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] };
const LAB = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] };
const patchOf = (ops: object[]) => ({
  resourceType: 'Binary',
  contentType: 'application/json-patch+json',
  data: Buffer.from(JSON.stringify(ops)).toString('base64'),
});
const status = (res: any, i: number) => Number.parseInt(res.body.entry[i].response.status, 10);
const diagnostics = (res: any, i: number) => (res.body.entry[i].response.outcome?.issue ?? []).map((x: any) => x.diagnostics).join(' ');

/**
 * SMART scopes on batch and transaction Bundles (http.html §3.1.0.11):
 * every entry is checked as the request it stands for, on the entry as the
 * server parsed it. A batch's entries are independent (§3.1.0.11.1): a
 * refused one gets its own 403/404 with an OperationOutcome and the others
 * run. A transaction is all or nothing (§3.1.0.11.2): one refused entry
 * refuses it, naming Bundle.entry[i].
 */
describe('SMART scopes on batch and transaction entries', () => {
  let s: SmartApp;
  let admin: string;
  let alice: string;
  let vital: string;
  const post = (token: string, bundle: object, requestId?: string) => {
    const r = s.http.post('/fhir').set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON);
    return (requestId ? r.set('X-Request-Id', requestId) : r).send(bundle);
  };
  const bundle = (type: 'batch' | 'transaction', entry: object[]) => ({ resourceType: 'Bundle', type, entry });
  const bobsObservation = async () => (await s.http.get('/fhir/Observation/obs-b-vital').set('Authorization', `Bearer ${admin}`)).body;

  beforeAll(async () => {
    s = await startSmartApp();
    admin = await loadFixtures(s);
    alice = await tokenFor(s, 'alice', 'patient/*.cruds');
    vital = await tokenFor(s, 'alice', 'patient/Observation.cruds?category=vital-signs');
    await s.http
      .put('/fhir/Observation/obs-a-patch')
      .set('Authorization', `Bearer ${admin}`)
      .set('Content-Type', FHIR_JSON)
      .send(obs('obs-a-patch', 'alice', VITAL));
  });
  afterAll(async () => s?.close());

  it('batch (§3.1.0.11.1): refused entries get their own 403/404 and OperationOutcome, the others run', async () => {
    const mine = { ...obs('x', 'alice', VITAL, 'batch-mine'), id: undefined };
    const res = await post(
      alice,
      bundle('batch', [
        { resource: mine, request: { method: 'POST', url: 'Observation' } },
        { resource: { ...obs('x', 'bob', VITAL), id: undefined }, request: { method: 'POST', url: 'Observation' } },
        { request: { method: 'GET', url: 'Observation/obs-b-vital' } },
        { request: { method: 'GET', url: 'Observation/obs-a-vital' } },
        { resource: obs('obs-b-vital', 'alice', VITAL), request: { method: 'PUT', url: 'Observation/obs-b-vital' } },
        { request: { method: 'DELETE', url: 'Observation/obs-b-vital' } },
        { request: { method: 'GET', url: 'Bundle/stored-doc' } },
        { resource: patchOf([{ op: 'replace', path: '/subject/reference', value: 'Patient/bob' }]), request: { method: 'PATCH', url: 'Observation/obs-a-patch' } },
        { resource: patchOf([{ op: 'replace', path: '/status', value: 'amended' }]), request: { method: 'PATCH', url: 'Observation/obs-a-patch' } },
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    expect(res.body.entry.map((_: unknown, i: number) => status(res, i))).toEqual([201, 403, 404, 200, 404, 404, 403, 403, 200]);
    for (const i of [1, 2, 4, 5, 6, 7]) {
      expect(res.body.entry[i].response.outcome.resourceType).toBe('OperationOutcome');
      expect(diagnostics(res, i)).toContain(`Bundle.entry[${i}]`);
    }
    expect(res.text).not.toContain(BOB_MARKER);
    // what ran is stored; what was refused is not
    const created = await s.http.get(`/fhir/${res.body.entry[0].response.location}`).set('Authorization', `Bearer ${alice}`);
    expect(created.body.note[0].text).toBe('batch-mine');
    const patched = await s.http.get('/fhir/Observation/obs-a-patch').set('Authorization', `Bearer ${alice}`);
    expect(patched.body).toMatchObject({ status: 'amended', subject: { reference: 'Patient/alice' } });
    expect(await bobsObservation()).toMatchObject({ subject: { reference: 'Patient/bob' }, meta: { versionId: '1' } });
  });

  it('batch with a granular token: each entry must match the filter (vital-signs) on its own', async () => {
    const res = await post(
      vital,
      bundle('batch', [
        { resource: { ...obs('x', 'alice', LAB), id: undefined }, request: { method: 'POST', url: 'Observation' } },
        { resource: { ...obs('x', 'alice', VITAL), id: undefined }, request: { method: 'POST', url: 'Observation' } },
        { request: { method: 'GET', url: 'Observation/obs-a-lab' } },
        { request: { method: 'GET', url: 'Observation/obs-a-vital' } },
      ]),
    );
    expect(res.status).toBe(200);
    expect([0, 1, 2, 3].map((i) => status(res, i))).toEqual([403, 201, 404, 200]);
  });

  it('transaction (§3.1.0.11.2): one refused entry refuses it all, naming the entry; nothing is written', async () => {
    const tagged = (note: string) => ({ resource: { ...obs('x', 'alice', VITAL, note), id: undefined }, request: { method: 'POST', url: 'Observation' } });
    const hidden = await post(
      alice,
      bundle('transaction', [tagged('tx-never-1'), { resource: obs('obs-b-vital', 'alice', VITAL), request: { method: 'PUT', url: 'Observation/obs-b-vital' } }]),
    );
    expect(hidden.status).toBe(404);
    expect(JSON.stringify(hidden.body)).toContain('Bundle.entry[1]');
    const refused = await post(alice, bundle('transaction', [tagged('tx-never-2'), { request: { method: 'GET', url: 'Bundle/stored-doc' } }]));
    expect(refused.status).toBe(403);
    expect(refused.headers['www-authenticate']).toMatch(/insufficient_scope/);
    expect(JSON.stringify(refused.body)).toContain('Bundle.entry[1]');
    const written = await s.http.get('/fhir/Observation?_count=100').set('Authorization', `Bearer ${admin}`);
    expect(JSON.stringify(written.body)).not.toMatch(/tx-never/);
    expect(await bobsObservation()).toMatchObject({ subject: { reference: 'Patient/bob' }, meta: { versionId: '1' } });
  });

  it('the entry is checked as parsed: URL spellings the parser accepts cannot bypass the scopes', async () => {
    const urls = [' Observation/obs-b-vital', 'Observation/obs-b-vital ', `${s.baseUrl}/Observation/obs-b-vital`, 'Observation/obs-b-vital/_history/1'];
    const res = await post(alice, bundle('batch', urls.map((url) => ({ request: { method: 'GET', url } }))));
    expect(res.status).toBe(200);
    expect(urls.map((_, i) => status(res, i))).toEqual([404, 404, 404, 404]);
    expect(res.text).not.toContain(BOB_MARKER);
    const writes = await post(
      alice,
      bundle('batch', [
        { resource: obs('obs-b-vital', 'alice', VITAL), request: { method: 'PUT', url: ' Observation/obs-b-vital' } },
        { request: { method: 'delete', url: ` ${s.baseUrl}/Observation/obs-b-vital` } },
      ]),
    );
    expect([0, 1].map((i) => status(writes, i))).toEqual([404, 404]);
    expect(await bobsObservation()).toMatchObject({ subject: { reference: 'Patient/bob' }, meta: { versionId: '1' } });
  });

  it('AuditEvents per entry: a refused entry is recorded (403 as access-denied), the others as usual', async () => {
    const requestId = `bundle-scopes-${Date.now()}`;
    const res = await post(
      alice,
      bundle('batch', [
        { resource: { ...obs('x', 'alice', VITAL), id: undefined }, request: { method: 'POST', url: 'Observation' } },
        { resource: { ...obs('x', 'bob', VITAL), id: undefined }, request: { method: 'POST', url: 'Observation' } },
        { request: { method: 'GET', url: 'Observation/obs-b-vital' } },
      ]),
      requestId,
    );
    expect(res.status).toBe(200);
    const { rows } = await s.db.query(
      `SELECT type, subtype, outcome, outcome_desc, entity_type, entity_id, client_id FROM audit_event WHERE request_id = $1`,
      [requestId],
    );
    const byKind = (pred: (r: any) => boolean) => rows.filter(pred);
    expect(rows).toHaveLength(4);
    expect(byKind((r) => r.subtype[0] === 'batch' && r.outcome === 0)).toHaveLength(1);
    expect(byKind((r) => r.subtype[0] === 'create' && r.outcome === 0 && r.entity_type === 'Observation')).toHaveLength(1);
    const denied = byKind((r) => r.type === '110113');
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ subtype: ['access-denied', 'create'], outcome: 4, entity_type: 'Observation', client_id: 'demo-app' });
    expect(denied[0].outcome_desc).toMatch(/^403: Bundle\.entry\[1\]/);
    const hidden = byKind((r) => r.subtype[0] === 'read');
    expect(hidden).toHaveLength(1);
    expect(hidden[0]).toMatchObject({ type: 'rest', outcome: 4, entity_id: 'obs-b-vital' });
  });
  it('a FHIRPath Patch (REST or entry) is checked on its result, as a JSON Patch is (fhirpatch.html)', async () => {
    const replace = (path: string, value: object) => ({
      resourceType: 'Parameters',
      parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: path }, { name: 'value', ...value }] }],
    });
    const patch = (body: object) =>
      s.http.patch('/fhir/Observation/obs-a-patch').set('Authorization', `Bearer ${alice}`).set('Content-Type', FHIR_JSON).send(body);
    expect((await patch(replace('Observation.subject.reference', { valueString: 'Patient/bob' }))).status).toBe(403);
    const ok = await patch(replace('Observation.status', { valueCode: 'corrected' }));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'corrected', subject: { reference: 'Patient/alice' } });
    const res = await post(alice, bundle('batch', [{ resource: replace('Observation.subject.reference', { valueString: 'Patient/bob' }), request: { method: 'PATCH', url: 'Observation/obs-a-patch' } }]));
    expect(status(res, 0)).toBe(403);
    expect((await s.http.get('/fhir/Observation/obs-a-patch').set('Authorization', `Bearer ${admin}`)).body.subject.reference).toBe('Patient/alice');
  });
});

import { FHIR_JSON } from '../helpers/test-app';
import { BOB_MARKER, loadFixtures, obs, tokenFor } from './scope-fixtures';
import { SmartApp, startSmartApp } from './smart-helpers';

const VITAL = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] };
const LAB = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] };
const SYS = 'urn:test:cond';

/** An Observation with an identifier; `shared` values exist in both patients' compartments. */
const tagged = (id: string | undefined, patient: string, value: string, category = VITAL, note = 'ok') => ({
  ...obs(id ?? 'x', patient, category, note),
  id,
  identifier: [{ system: SYS, value }],
});

/**
 * Conditional interactions with patient- and filter-bounded tokens
 * (http.html §3.1.0.8.1 conditional create, §3.1.0.4.3 conditional update,
 * §3.1.0.5 patch, §3.1.0.7.1 conditional delete; SMART App Launch 2.0
 * "patient/ scopes" and granular scopes). The condition's search runs
 * bounded by the token, so matches outside the compartment or filter are
 * invisible (never updated, deleted or revealed), and what is written must
 * pass the same compartment/filter check as a plain create or update.
 */
describe('conditional interactions with bounded tokens', () => {
  let s: SmartApp;
  let admin: string;
  const tok: Record<string, string> = {};
  const as = (t: string) => `Bearer ${tok[t] ?? admin}`;
  const put = (t: string, url: string, body: object) => s.http.put(url).set('Authorization', as(t)).set('Content-Type', FHIR_JSON).send(body);
  const create = (t: string, body: object, ifNoneExist: string) =>
    s.http.post('/fhir/Observation').set('Authorization', as(t)).set('Content-Type', FHIR_JSON).set('If-None-Exist', ifNoneExist).send(body);
  const patch = (t: string, url: string, ops: object[]) =>
    s.http.patch(url).set('Authorization', as(t)).set('Content-Type', 'application/json-patch+json').send(ops);
  const del = (t: string, url: string) => s.http.delete(url).set('Authorization', as(t));
  const read = (id: string) => s.http.get(`/fhir/Observation/${id}`).set('Authorization', `Bearer ${admin}`);
  const byIdentifier = async (value: string) =>
    (await s.http.get(`/fhir/Observation?identifier=${SYS}|${value}`).set('Authorization', `Bearer ${admin}`)).body.entry ?? [];

  beforeAll(async () => {
    s = await startSmartApp();
    admin = await loadFixtures(s);
    tok.obs = await tokenFor(s, 'alice', 'patient/Observation.cruds');
    tok.vital = await tokenFor(s, 'alice', 'patient/Observation.cruds?category=vital-signs');
    tok.cOnly = await tokenFor(s, 'alice', 'patient/Observation.c');
    tok.all = await tokenFor(s, 'alice', 'patient/*.cruds');
    const fixtures = [
      tagged('c-a-shared', 'alice', 'shared'),
      tagged('c-b-shared', 'bob', 'shared', VITAL, BOB_MARKER),
      tagged('c-b-only', 'bob', 'bob-only', VITAL, BOB_MARKER),
      tagged('c-a-lab', 'alice', 'alice-lab', LAB),
      tagged('c-b-del', 'bob', 'bob-del', VITAL, BOB_MARKER),
      tagged('c-b-patch', 'bob', 'bob-patch', VITAL, BOB_MARKER),
    ];
    for (const r of fixtures) expect((await put('admin', `/fhir/Observation/${r.id}`, r)).status).toBe(201);
  });
  afterAll(async () => s?.close());

  it('conditional create (If-None-Exist): the match is searched within the compartment; the new resource must be inside it', async () => {
    // one visible match (Alice's), although Bob has one with the same identifier: 200 with Alice's, not 412
    const found = await create('obs', tagged(undefined, 'alice', 'shared'), `identifier=${SYS}|shared`).set('Prefer', 'return=representation');
    expect(found.status).toBe(200);
    expect(found.body.id).toBe('c-a-shared');
    // Bob's match is invisible: a new resource is created for Alice, Bob's is neither returned nor revealed
    const fresh = await create('obs', tagged(undefined, 'alice', 'bob-only'), `identifier=${SYS}|bob-only`).set('Prefer', 'return=representation');
    expect(fresh.status).toBe(201);
    expect(fresh.body.subject.reference).toBe('Patient/alice');
    expect(fresh.text).not.toContain(BOB_MARKER);
    expect(await byIdentifier('bob-only')).toHaveLength(2);
    // content outside the compartment: 403, as for a plain create
    expect((await create('obs', tagged(undefined, 'bob', 'new-1'), `identifier=${SYS}|new-1`)).status).toBe(403);
    // the condition is a search answered with its match: it needs search permission
    const noSearch = await create('cOnly', tagged(undefined, 'alice', 'new-2'), `identifier=${SYS}|new-2`);
    expect(noSearch.status).toBe(403);
    expect(await byIdentifier('new-2')).toHaveLength(0);
  });

  it('conditional update (PUT [type]?search): matches outside the compartment are never updated', async () => {
    // Alice's match is updated (Bob's with the same identifier is invisible: no 412)
    const upd = await put('obs', `/fhir/Observation?identifier=${SYS}|shared`, tagged(undefined, 'alice', 'shared', VITAL, 'updated'));
    expect(upd.status).toBe(200);
    expect((await read('c-a-shared')).body.note[0].text).toBe('updated');
    expect((await read('c-b-shared')).body).toMatchObject({ meta: { versionId: '1' }, note: [{ text: BOB_MARKER }] });
    // only Bob's resource matches: invisible, so the update creates Alice's own resource
    const created = await put('obs', `/fhir/Observation?identifier=${SYS}|bob-only&subject=Patient/bob`, tagged(undefined, 'alice', 'bob-only'));
    expect(created.status).toBe(201);
    expect(created.text).not.toContain(BOB_MARKER);
    expect((await read('c-b-only')).body.meta.versionId).toBe('1');
    // the content must stay in the compartment
    expect((await put('obs', `/fhir/Observation?identifier=${SYS}|shared`, tagged(undefined, 'bob', 'shared'))).status).toBe(403);
    // a granular token: matches outside the filter are invisible, and the content must match the filter
    const labUpdate = await put('vital', `/fhir/Observation?identifier=${SYS}|alice-lab`, tagged(undefined, 'alice', 'alice-lab', LAB));
    expect(labUpdate.status).toBe(403);
    const vitalCreate = await put('vital', `/fhir/Observation?identifier=${SYS}|alice-lab`, tagged(undefined, 'alice', 'alice-lab'));
    expect(vitalCreate.status).toBe(201);
    expect((await read('c-a-lab')).body.meta.versionId).toBe('1');
  });

  it('conditional update with an id in the body cannot re-create or take over a resource outside the compartment', async () => {
    await del('admin', '/fhir/Observation/c-b-del');
    const recreate = await put('obs', `/fhir/Observation?identifier=${SYS}|none-such`, tagged('c-b-del', 'alice', 'none-such'));
    // Bob's deleted Observation: answered as an id Alice cannot see (no word of the deletion)
    expect(recreate.status).toBe(404);
    expect(recreate.text).not.toMatch(/deleted/);
    const takeOver = await put('obs', `/fhir/Observation?identifier=${SYS}|none-such`, tagged('c-b-only', 'alice', 'none-such'));
    expect(takeOver.status).toBe(409);
    expect(takeOver.text).not.toContain(BOB_MARKER);
    expect((await read('c-b-only')).body.subject.reference).toBe('Patient/bob');
  });

  it('conditional patch: only a match inside the compartment is patched, and the result must stay inside', async () => {
    const hidden = await patch('obs', `/fhir/Observation?identifier=${SYS}|bob-patch`, [{ op: 'replace', path: '/status', value: 'amended' }]);
    expect(hidden.status).toBe(404);
    expect((await read('c-b-patch')).body.meta.versionId).toBe('1');
    const ok = await patch('obs', `/fhir/Observation?identifier=${SYS}|shared`, [{ op: 'replace', path: '/status', value: 'amended' }]);
    expect(ok.status).toBe(200);
    expect((await read('c-a-shared')).body.status).toBe('amended');
    const move = await patch('obs', `/fhir/Observation?identifier=${SYS}|shared`, [
      { op: 'replace', path: '/subject/reference', value: 'Patient/bob' },
    ]);
    expect(move.status).toBe(403);
    expect((await read('c-a-shared')).body.subject.reference).toBe('Patient/alice');
  });

  it('conditional delete: only matches inside the compartment or filter are deleted', async () => {
    expect((await del('obs', `/fhir/Observation?identifier=${SYS}|bob-patch`)).status).toBe(204);
    expect((await read('c-b-patch')).status).toBe(200);
    expect((await del('obs', '/fhir/Observation?subject=Patient/bob')).status).toBe(204);
    expect((await read('obs-b-vital')).status).toBe(200);
    expect((await del('vital', `/fhir/Observation?identifier=${SYS}|alice-lab`)).status).toBe(204);
    expect((await read('c-a-lab')).status).toBe(200);
    await put('admin', '/fhir/Observation/c-a-del', tagged('c-a-del', 'alice', 'alice-del'));
    expect((await del('obs', `/fhir/Observation?identifier=${SYS}|alice-del`)).status).toBe(204);
    expect((await read('c-a-del')).status).toBe(410);
  });

  it('in a transaction: ifNoneExist and conditional entries are bounded the same way', async () => {
    const tx = (entry: object[]) => s.http.post('/fhir').set('Authorization', as('all')).set('Content-Type', FHIR_JSON).send({ resourceType: 'Bundle', type: 'transaction', entry });
    const res = await tx([
      { resource: tagged(undefined, 'alice', 'shared'), request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${SYS}|shared` } },
      { resource: tagged(undefined, 'alice', 'tx-new'), request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${SYS}|tx-new` } },
      { request: { method: 'DELETE', url: `Observation?identifier=${SYS}|bob-patch` } },
      { resource: tagged(undefined, 'alice', 'bob-only', VITAL, 'tx'), request: { method: 'PUT', url: `Observation?identifier=${SYS}|bob-only&subject=Patient/bob` } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['200', '201', '204', '201']);
    expect(res.body.entry[0].response.location).toMatch(/^Observation\/c-a-shared\//);
    expect(res.text).not.toContain(BOB_MARKER);
    expect((await read('c-b-patch')).status).toBe(200);
    expect((await read('c-b-only')).body.meta.versionId).toBe('1');
    // a conditional entry whose content leaves the compartment refuses the transaction
    const refused = await tx([
      { resource: tagged(undefined, 'bob', 'tx-bob'), request: { method: 'PUT', url: `Observation?identifier=${SYS}|tx-bob` } },
    ]);
    expect(refused.status).toBe(403);
    expect(await byIdentifier('tx-bob')).toHaveLength(0);
  });

  it('conditional references (http.html §3.1.0.11.2) resolve only to resources the token may read', async () => {
    for (const [id, patient] of [['enc-ca', 'alice'], ['enc-cb', 'bob']]) {
      const encounter = { resourceType: 'Encounter', id, status: 'finished', class: { code: 'AMB' }, identifier: [{ system: SYS, value: id }], subject: { reference: `Patient/${patient}` } };
      expect((await put('admin', `/fhir/Encounter/${id}`, encounter)).status).toBe(201);
    }
    const withEncounter = (enc: string) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: { ...tagged(undefined, 'alice', `ref-${enc}`), encounter: { reference: `Encounter?identifier=${SYS}|${enc}` } }, request: { method: 'POST', url: 'Observation' } }],
    });
    const post = (enc: string) => s.http.post('/fhir').set('Authorization', as('all')).set('Content-Type', FHIR_JSON).send(withEncounter(enc));
    const own = await post('enc-ca');
    expect(own.status).toBe(200);
    const created = await s.http.get(`/fhir/${own.body.entry[0].response.location}`).set('Authorization', as('all'));
    expect(created.body.encounter.reference).toBe('Encounter/enc-ca');
    // Bob's Encounter is invisible: the reference matches nothing (412), it is neither linked nor revealed
    const hidden = await post('enc-cb');
    expect(hidden.status).toBe(412);
    expect(hidden.text).toMatch(/matches no resource/);
    expect(await byIdentifier('ref-enc-cb')).toHaveLength(0);
  });

  it('type and system history stay refused to bounded tokens (older versions are not indexed by compartment)', async () => {
    for (const url of ['/fhir/Observation/_history', '/fhir/_history?_type=Observation']) {
      const res = await s.http.get(url).set('Authorization', as('obs'));
      expect(res.status).toBe(403);
      expect(res.body.issue[0].diagnostics).toMatch(/not indexed by compartment/);
    }
    expect((await s.http.get('/fhir/_history').set('Authorization', as('all'))).status).toBe(403);
  });
});

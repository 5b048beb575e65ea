import { eventsOf, rid, subtypes } from '../../audit/audit-helpers';
import { loadFixtures, obs, tokenFor } from '../../auth/scope-fixtures';
import { backendToken, SmartApp, startSmartApp } from '../../auth/smart-helpers';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

const TAGS = 'http://example.org/tags';
const tag = (code: string, display?: string) => ({ system: TAGS, code, ...(display ? { display } : {}) });
const LABEL = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' };
const VITAL = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] };
const PROFILE = 'http://example.org/StructureDefinition/my-patient';
const params = (meta: object) => ({ resourceType: 'Parameters', parameter: [{ name: 'meta', valueMeta: meta }] });
const metaOf = (body: any) => body.parameter.find((p: any) => p.name === 'return').valueMeta;

/**
 * R4 resource-operation-meta.html, -meta-add.html, -meta-delete.html: `$meta` at system, type and
 * instance level (GET or POST), `$meta-add` / `$meta-delete` at instance level (POST, a Parameters
 * `meta` of type Meta; profiles, tags and security labels are sets, a tag or label identified by
 * system + code, version and display ignored when matching; deleting an absent one is no error),
 * each answering a Parameters `return` Meta. R4 leaves open whether a change makes a new version:
 * here it does (through the normal write path: history, search index, audit).
 */
describe('$meta, $meta-add, $meta-delete (R4 Resource operations)', () => {
  let t: TestApp;
  let id: string;
  beforeAll(async () => {
    t = await startTestApp();
    id = (await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', meta: { tag: [tag('a', 'Alpha')] } })).body.id;
    await t.http.post('/fhir/Observation').send({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, meta: { tag: [tag('obs')], profile: [PROFILE + '-obs'] } });
  });
  afterAll(async () => t.close());

  it('instance $meta (GET and POST): the meta of the current version', async () => {
    for (const r of [await t.http.get(`/fhir/Patient/${id}/$meta`), await t.http.post(`/fhir/Patient/${id}/$meta`)]) {
      expect(r.status).toBe(200);
      expect(r.body.resourceType).toBe('Parameters');
      expect(metaOf(r.body)).toMatchObject({ versionId: '1', tag: [tag('a', 'Alpha')] });
      expect(metaOf(r.body).lastUpdated).toBeDefined();
    }
    expect((await t.http.get('/fhir/Patient/nobody/$meta')).status).toBe(404);
  });

  it('$meta-add: a new version with the sets joined, no duplicates (system + code), searchable, audited', async () => {
    const req = rid();
    const r = await t.http
      .post(`/fhir/Patient/${id}/$meta-add`)
      .set('X-Request-Id', req)
      .send(params({ tag: [tag('a', 'Another display'), tag('b')], security: [LABEL], profile: [PROFILE] }));
    expect(r.status).toBe(200);
    const meta = metaOf(r.body);
    expect(meta.versionId).toBe('2');
    expect(meta.tag).toEqual([tag('a', 'Alpha'), tag('b')]);
    expect(meta.security).toEqual([LABEL]);
    expect(meta.profile).toEqual([PROFILE]);
    expect((await t.http.get(`/fhir/Patient/${id}`)).body.meta).toEqual(meta);
    expect((await t.http.get(`/fhir/Patient/${id}/_history`)).body.entry).toHaveLength(2);
    expect((await t.http.get(`/fhir/Patient?_tag=${TAGS}|b`)).body.entry.map((e: any) => e.resource.id)).toEqual([id]);
    expect((await t.http.get(`/fhir/Patient?_profile=${PROFILE}`)).body.entry).toHaveLength(1);
    // audited in the write's statement as the change it makes: a new version, like a patch
    const events = await eventsOf(t, req);
    expect(events.map((e) => [subtypes(e), e.action, e.outcome])).toEqual([[['patch'], 'U', '0']]);
    expect(events[0].entity?.some((x) => x.what?.reference === `Patient/${id}/_history/2`)).toBe(true);
  });

  it('$meta-add of what is already there writes no version', async () => {
    const r = await t.http.post(`/fhir/Patient/${id}/$meta-add`).send(params({ tag: [tag('b', 'whatever')] }));
    expect(r.status).toBe(200);
    expect(metaOf(r.body).versionId).toBe('2');
  });

  it('$meta-delete: removes by identity, absent ones are no error; the index follows', async () => {
    const r = await t.http.post(`/fhir/Patient/${id}/$meta-delete`).send(params({ tag: [tag('b', 'ignored display')], security: [{ system: LABEL.system, code: 'N' }], profile: [PROFILE] }));
    expect(r.status).toBe(200);
    const meta = metaOf(r.body);
    expect(meta).toMatchObject({ versionId: '3', tag: [tag('a', 'Alpha')], security: [LABEL] });
    expect(meta.profile).toBeUndefined();
    expect((await t.http.get(`/fhir/Patient?_tag=${TAGS}|b`)).body.entry ?? []).toEqual([]);
  });

  it('$meta on a historical version (GET and POST): that version\'s meta, as its vread shows it; audited as the operation', async () => {
    const vread = (await t.http.get(`/fhir/Patient/${id}/_history/2`)).body.meta;
    expect(vread).toMatchObject({ versionId: '2', profile: [PROFILE], security: [LABEL] });
    const req = rid();
    for (const r of [await t.http.get(`/fhir/Patient/${id}/_history/2/$meta`).set('X-Request-Id', req), await t.http.post(`/fhir/Patient/${id}/_history/2/$meta`)]) {
      expect(r.status).toBe(200);
      expect(r.body.resourceType).toBe('Parameters');
      expect(metaOf(r.body)).toEqual(vread);
    }
    // the first version: not the current one's meta
    const first = metaOf((await t.http.get(`/fhir/Patient/${id}/_history/1/$meta`)).body);
    expect(first).toEqual((await t.http.get(`/fhir/Patient/${id}/_history/1`)).body.meta);
    expect(first).toMatchObject({ versionId: '1', tag: [tag('a', 'Alpha')] });
    expect(first.profile).toBeUndefined();
    const events = await eventsOf(t, req);
    expect(events.map((e) => [subtypes(e), e.action, e.outcome])).toEqual([[['operation', '$meta'], 'E', '0']]);
    expect(events[0].entity?.some((x) => x.what?.reference === `Patient/${id}/_history/2`)).toBe(true);
  });

  it('$meta on a version: 404 unknown, 410 a deletion (as vread); $meta-add/$meta-delete there 405 (they write a new version)', async () => {
    const gone = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', meta: { tag: [tag('old')] } })).body.id;
    await t.http.delete(`/fhir/Patient/${gone}`);
    expect(metaOf((await t.http.get(`/fhir/Patient/${gone}/_history/1/$meta`)).body).tag).toEqual([tag('old')]);
    const deletion = await t.http.get(`/fhir/Patient/${gone}/_history/2/$meta`);
    expect([deletion.status, deletion.body.resourceType]).toEqual([410, 'OperationOutcome']);
    for (const url of [`/fhir/Patient/${gone}/_history/3/$meta`, `/fhir/Patient/${id}/_history/x/$meta`, `/fhir/Patient/${id}/_history/99999999999/$meta`, '/fhir/Patient/nobody/_history/1/$meta']) {
      expect({ url, status: (await t.http.get(url)).status }).toEqual({ url, status: 404 });
    }
    for (const op of ['$meta-add', '$meta-delete']) {
      const r = await t.http.post(`/fhir/Patient/${id}/_history/1/${op}`).send(params({ tag: [tag('x')] }));
      expect([r.status, r.body.resourceType, r.headers.allow]).toEqual([405, 'OperationOutcome', '']);
      expect(r.body.issue[0].diagnostics).toMatch(/current version/);
      expect((await t.http.get(`/fhir/Patient/${id}/_history/1/${op}`)).status).toBe(405);
    }
    expect((await t.http.get(`/fhir/Patient/${id}`)).body.meta.versionId).toBe('3');
    expect((await t.http.get(`/fhir/Patient/${id}/_history/1/$nonsense`)).status).toBe(404);
    expect((await t.http.get(`/fhir/Patient/${id}/_history/1/foo`)).status).toBe(405);
  });

  it('type and system $meta: the profiles, tags and security labels in use, without versionId or lastUpdated', async () => {
    const type = metaOf((await t.http.get('/fhir/Observation/$meta')).body);
    expect(type).toEqual({ profile: [PROFILE + '-obs'], tag: [tag('obs')] });
    const system = metaOf((await t.http.post('/fhir/$meta')).body);
    expect(system.tag).toEqual([tag('a', 'Alpha'), tag('obs')]);
    expect(system.security).toEqual([LABEL]);
    expect(system.profile).toEqual([PROFILE + '-obs']);
    expect(system.versionId).toBeUndefined();
    expect(system.lastUpdated).toBeUndefined();
  });

  it('refusals: GET of $meta-add 405, no meta parameter 400, unknown 404, deleted 410; nothing written', async () => {
    const get = await t.http.get(`/fhir/Patient/${id}/$meta-add`);
    expect([get.status, get.headers.allow]).toEqual([405, 'POST']);
    expect((await t.http.post(`/fhir/Patient/${id}/$meta-add`).send({ resourceType: 'Parameters' })).status).toBe(400);
    expect((await t.http.post(`/fhir/Patient/${id}/$meta-delete`).send(params({ tag: 'nope' }))).status).toBe(400);
    expect((await t.http.post('/fhir/Patient/nobody/$meta-add').send(params({ tag: [tag('x')] }))).status).toBe(404);
    const gone = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient' })).body.id;
    await t.http.delete(`/fhir/Patient/${gone}`);
    expect((await t.http.post(`/fhir/Patient/${gone}/$meta-add`).send(params({ tag: [tag('x')] }))).status).toBe(410);
    expect((await t.http.get(`/fhir/Patient/${gone}/$meta`)).status).toBe(410);
    expect((await t.http.get(`/fhir/Patient/${id}`)).body.meta.versionId).toBe('3');
  });

  it('Binary: $meta reads its meta (instance and version)', async () => {
    const bin = await t.http
      .post('/fhir/Binary')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Binary', contentType: 'text/plain', meta: { tag: [tag('doc')], security: [LABEL] }, data: Buffer.from('hello').toString('base64') });
    expect(bin.status).toBe(201);
    const binId = bin.body.id;
    for (const r of [await t.http.get(`/fhir/Binary/${binId}/$meta`), await t.http.post(`/fhir/Binary/${binId}/$meta`), await t.http.get(`/fhir/Binary/${binId}/_history/1/$meta`)]) {
      expect([r.status, r.headers['content-type']]).toEqual([200, 'application/fhir+json; charset=utf-8']);
      expect(metaOf(r.body)).toMatchObject({ versionId: '1', tag: [tag('doc')], security: [LABEL] });
      expect(metaOf(r.body).lastUpdated).toBeDefined();
    }
    expect((await t.http.get(`/fhir/Binary/${binId}/_history/2/$meta`)).status).toBe(404);
    expect((await t.http.get('/fhir/Binary/nothing/$meta')).status).toBe(404);
  });

  // a new version written through BinaryService: it carries the document of the version it follows
  it('Binary: $meta-add/$meta-delete write a new version that keeps the document (chunked), byte for byte', async () => {
    const bytes = Buffer.alloc(2.5 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 13)) & 0xff;
    const made = await t.http.post('/fhir/Binary').set('Content-Type', 'application/octet-stream').send(bytes);
    expect(made.status).toBe(201);
    const binId = made.body.id ?? /Binary\/([^/]+)\//.exec(made.headers.location)![1];
    const raw = async (url: string) => (await t.http.get(url).set('Accept', 'application/octet-stream').buffer(true).parse((res, cb) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => cb(null, Buffer.concat(parts)));
    })).body as Buffer;

    const req = rid();
    const added = await t.http.post(`/fhir/Binary/${binId}/$meta-add`).set('X-Request-Id', req).send(params({ tag: [tag('reviewed')] }));
    expect(added.status).toBe(200);
    // audited in the statement that wrote the version (one event, the new version as entity)
    const events = await eventsOf(t, req);
    expect(events.map((e) => [e.outcome, e.entity?.[0]?.what?.reference])).toEqual([['0', `Binary/${binId}/_history/2`]]);
    expect(metaOf(added.body)).toMatchObject({ versionId: '2', tag: [tag('reviewed')] });
    expect((await raw(`/fhir/Binary/${binId}`)).equals(bytes)).toBe(true);
    expect((await raw(`/fhir/Binary/${binId}/_history/2`)).equals(bytes)).toBe(true);
    expect((await raw(`/fhir/Binary/${binId}/_history/1`)).equals(bytes)).toBe(true);
    // the FHIR form of the new version carries the document as data
    const asResource = await t.http.get(`/fhir/Binary/${binId}`).set('Accept', FHIR_JSON);
    expect(Buffer.from(asResource.body.data, 'base64').equals(bytes)).toBe(true);
    expect(asResource.body.meta.tag).toEqual([tag('reviewed')]);
    const history = await t.http.get(`/fhir/Binary/${binId}/_history`);
    expect(history.body.entry.map((e: any) => e.resource?.meta?.versionId ?? e.response?.etag)).toEqual(['2', '1']);
    expect(metaOf((await t.http.get(`/fhir/Binary/${binId}/$meta`)).body).tag).toEqual([tag('reviewed')]);

    const removed = await t.http.post(`/fhir/Binary/${binId}/$meta-delete`).send(params({ tag: [tag('reviewed')] }));
    expect([removed.status, metaOf(removed.body).versionId, metaOf(removed.body).tag]).toEqual([200, '3', undefined]);
    expect((await raw(`/fhir/Binary/${binId}`)).equals(bytes)).toBe(true);
    // nothing to change: no version
    expect(metaOf((await t.http.post(`/fhir/Binary/${binId}/$meta-delete`).send(params({ tag: [tag('reviewed')] }))).body).versionId).toBe('3');
    // a Binary stored inline (through a Bundle) keeps its data in the resource
    const inline = await t.http.post('/fhir').set('Content-Type', FHIR_JSON).send({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: { resourceType: 'Binary', contentType: 'text/plain', data: Buffer.from('inline doc').toString('base64') }, request: { method: 'POST', url: 'Binary' } }],
    });
    const inlineId = /Binary\/([^/]+)\//.exec(inline.body.entry[0].response.location)![1];
    expect((await t.http.post(`/fhir/Binary/${inlineId}/$meta-add`).send(params({ tag: [tag('x')] }))).status).toBe(200);
    expect((await t.http.get(`/fhir/Binary/${inlineId}`)).text).toBe('inline doc');
  });

  it('AuditEvent: $meta-add and $meta-delete are refused 405 (the trail cannot be changed through the API), nothing written', async () => {
    const req = rid();
    await t.http.get(`/fhir/Patient/${id}`).set('X-Request-Id', req);
    const [event] = await eventsOf(t, req);
    for (const op of ['$meta-add', '$meta-delete']) {
      const r = await t.http.post(`/fhir/AuditEvent/${event.id}/${op}`).send(params({ tag: [tag('x')] }));
      expect([r.status, r.body.resourceType]).toEqual([405, 'OperationOutcome']);
      expect(r.headers.allow).toBe('');
      expect((await t.http.get(`/fhir/AuditEvent/${event.id}/${op}`)).status).toBe(405);
      expect((await t.http.post(`/fhir/AuditEvent/${event.id}/_history/1/${op}`).send(params({ tag: [tag('x')] }))).status).toBe(405);
    }
    expect((await t.http.get(`/fhir/AuditEvent/${event.id}`)).body).toEqual(event);
  });

  it('the CapabilityStatement lists them like the other operations', async () => {
    const cs = (await t.http.get('/fhir/metadata')).body;
    const patient = cs.rest[0].resource.find((r: any) => r.type === 'Patient');
    expect(patient.operation.map((o: any) => o.name)).toEqual(expect.arrayContaining(['meta', 'meta-add', 'meta-delete']));
    expect(cs.rest[0].operation.map((o: any) => o.name)).toContain('meta');
    expect(cs.rest[0].operation.map((o: any) => o.name)).not.toContain('meta-add');
  });
});

describe('$meta operations under SMART tokens', () => {
  let s: SmartApp;
  const tok: Record<string, string> = {};
  const as = (k: string) => ({ Authorization: `Bearer ${tok[k]}`, 'Content-Type': FHIR_JSON });
  beforeAll(async () => {
    s = await startSmartApp();
    tok.admin = await loadFixtures(s);
    tok.alice = await tokenFor(s, 'alice', 'patient/*.cruds');
    tok.aliceRead = await tokenFor(s, 'alice', 'patient/*.rs');
    tok.system = (await backendToken(s, 'system/*.rs', 'ehr-sync')).body.access_token;
    tok.alicePatient = await tokenFor(s, 'alice', 'patient/Patient.rs');
    tok.binaryWrite = (await backendToken(s, 'system/Binary.c', 'ec-backend')).body.access_token;
  }, 60_000);
  afterAll(async () => s?.close());

  it('reading meta needs read on the instance (another patient\'s: 404), changing it update (403 without)', async () => {
    expect((await s.http.get('/fhir/Observation/obs-a-vital/$meta').set(as('aliceRead'))).status).toBe(200);
    expect((await s.http.get('/fhir/Observation/obs-b-vital/$meta').set(as('aliceRead'))).status).toBe(404);
    expect((await s.http.post('/fhir/Observation/obs-a-vital/$meta-add').set(as('aliceRead')).send(params({ tag: [tag('x')] }))).status).toBe(403);
    expect((await s.http.post('/fhir/Observation/obs-b-vital/$meta-add').set(as('alice')).send(params({ tag: [tag('x')] }))).status).toBe(404);
    const ok = await s.http.post('/fhir/Observation/obs-a-vital/$meta-add').set(as('alice')).send(params({ tag: [tag('mine')] }));
    expect(ok.status).toBe(200);
    expect(metaOf(ok.body).tag).toEqual([tag('mine')]);
    expect((await s.http.post('/fhir/Observation/obs-a-vital/$meta-add').set(as('system')).send(params({ tag: [tag('y')] }))).status).toBe(403);
  });

  it('$meta on a version is authorized like its vread: another patient\'s version 404, a deletion of hers 410', async () => {
    const put = (r: object) => s.http.put(`/fhir/Observation/${(r as any).id}`).set(as('admin')).send(r);
    const get = (k: string, url: string) => s.http.get(url).set(as(k));
    // a resource that moved from Bob to Alice: its first version was Bob's
    expect((await put(obs('moved', 'bob', VITAL))).status).toBe(201);
    expect((await put(obs('moved', 'alice', VITAL))).status).toBe(200);
    expect((await get('aliceRead', '/fhir/Observation/moved/_history/2/$meta')).status).toBe(200);
    expect((await get('aliceRead', '/fhir/Observation/moved/_history/1')).status).toBe(404);
    const older = await s.http.post('/fhir/Observation/moved/_history/1/$meta').set(as('aliceRead'));
    expect([older.status, older.text.includes('bob')]).toEqual([404, false]);
    expect((await get('aliceRead', '/fhir/Observation/obs-b-vital/_history/1/$meta')).status).toBe(404);
    const mine = await s.http.post('/fhir/Observation/obs-a-vital/_history/1/$meta').set(as('aliceRead'));
    expect([mine.status, metaOf(mine.body).versionId]).toEqual([200, '1']);
    // deleted: hers 410 (as vread), Bob's 404
    for (const [id, who] of [['gone-a', 'alice'], ['gone-b', 'bob']]) {
      await put(obs(id, who, VITAL));
      expect((await s.http.delete(`/fhir/Observation/${id}`).set(as('admin'))).status).toBe(204);
    }
    for (const [version, status] of [['gone-a/_history/1', 200], ['gone-a/_history/2', 410], ['gone-b/_history/1', 404], ['gone-b/_history/2', 404]] as const) {
      expect({ version, status: (await get('aliceRead', `/fhir/Observation/${version}/$meta`)).status }).toEqual({ version, status });
    }
    // no read scope on the type: 403 as for vread
    expect((await get('alicePatient', '/fhir/Observation/obs-a-vital/_history/1/$meta')).status).toBe(403);
  });

  it('Binary $meta follows its securityContext (GET or POST, instance or version); a write-only Binary scope does not read it', async () => {
    for (const url of ['/fhir/Binary/bin-a/$meta', '/fhir/Binary/bin-a/_history/1/$meta']) {
      expect((await s.http.get(url).set(as('aliceRead'))).status).toBe(200);
      expect((await s.http.post(url).set(as('aliceRead'))).status).toBe(200);
    }
    for (const url of ['/fhir/Binary/bin-b/$meta', '/fhir/Binary/bin-b/_history/1/$meta', '/fhir/Binary/bin-free/$meta']) {
      expect({ url, status: (await s.http.post(url).set(as('aliceRead'))).status }).toEqual({ url, status: 404 });
    }
    expect((await s.http.post('/fhir/Binary/bin-free/$meta').set(as('binaryWrite'))).status).toBe(404);
    expect((await s.http.post('/fhir/Binary/bin-free/_history/1/$meta').set(as('binaryWrite'))).status).toBe(404);
  });

  it('Binary $meta-add/$meta-delete are authorized like a Binary update (through its securityContext)', async () => {
    const add = (k: string, id: string) => s.http.post(`/fhir/Binary/${id}/$meta-add`).set(as(k)).send(params({ tag: [tag('bin')] }));
    // read-only: refused exactly like its PUT (a Binary write refused by its securityContext answers 404, as
    // for a Binary the token cannot reach: RequestAuthorizer.binary), and nothing written
    const put = await s.http.put('/fhir/Binary/bin-a').set(as('aliceRead')).send({ resourceType: 'Binary', id: 'bin-a', contentType: 'text/plain', securityContext: { reference: 'Observation/obs-a-vital' } });
    const refused = await add('aliceRead', 'bin-a');
    expect([refused.status, put.status]).toEqual([404, 404]);
    expect(refused.text).not.toContain('obs-a-vital');
    expect((await s.http.post('/fhir/Binary/bin-a/$meta-delete').set(as('aliceRead')).send(params({ tag: [tag('bin')] }))).status).toBe(404);
    // a Binary write scope without update on the Observation named
    expect((await add('binaryWrite', 'bin-a')).status).toBe(404);
    // another patient's, or one without securityContext: not reachable (404, as for its update)
    expect((await add('alice', 'bin-b')).status).toBe(404);
    expect((await add('alice', 'bin-free')).status).toBe(404);
    expect(metaOf((await s.http.get('/fhir/Binary/bin-a/$meta').set(as('aliceRead'))).body).versionId).toBe('1');
    // update on the Observation it names: allowed, the document kept
    const ok = await add('alice', 'bin-a');
    expect([ok.status, metaOf(ok.body).versionId, metaOf(ok.body).tag]).toEqual([200, '2', [tag('bin')]]);
    expect((await s.http.get('/fhir/Binary/bin-a').set('Authorization', `Bearer ${tok.aliceRead}`)).text).toBe('alice doc');
  });

  it('type and system summaries: not for tokens bounded by a patient; an unbounded one gets them', async () => {
    expect((await s.http.get('/fhir/Observation/$meta').set(as('aliceRead'))).status).toBe(403);
    expect((await s.http.get('/fhir/$meta').set(as('aliceRead'))).status).toBe(403);
    const type = await s.http.get('/fhir/Observation/$meta').set(as('system'));
    expect(type.status).toBe(200);
    expect(metaOf(type.body).tag).toEqual([tag('mine')]);
    expect((await s.http.get('/fhir/$meta').set(as('system'))).status).toBe(200);
  });
});

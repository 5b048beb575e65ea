import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { OperationRegistry } from '../../../src/fhir/operations/operation-registry';
import { REINDEX_QUEUE } from '../../../src/fhir/search/reindex.operation';
import { JobQueue } from '../../../src/jobs/job-queue';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids } from './search-helpers';

// Custom SearchParameter resources (search.html#custom, SearchParameter) — POSTed or shipped in
// fhir-profiles/ — are honoured after a reindex ($reindex / npm run reindex); the CapabilityStatement
// lists every supported parameter per type (capabilitystatement.html: rest.resource.searchParam,
// searchInclude, searchRevInclude).
describe('custom search parameters, $reindex, CapabilityStatement', () => {
  let t: TestApp;
  let profiles: string;
  const eye = (colour: string) => ({
    resourceType: 'Patient',
    extension: [{ url: 'http://example.org/fhir/StructureDefinition/eye-colour', valueCode: colour }],
  });
  const searchParameter = (code: string, expression: string) => ({
    resourceType: 'SearchParameter',
    url: `http://example.org/fhir/SearchParameter/${code}`,
    name: code,
    status: 'active',
    description: `custom ${code}`,
    code,
    base: ['Patient'],
    type: 'token',
    expression,
  });

  beforeAll(async () => {
    profiles = fs.mkdtempSync(path.join(os.tmpdir(), 'search-profiles-'));
    fs.writeFileSync(
      path.join(profiles, 'sp-nickname.json'),
      JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { ...searchParameter('nickname', "Patient.name.where(use='nickname').given"), type: 'string' } }] }),
    );
    t = await startTestApp({ FHIR_PROFILES_DIR: profiles });
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(profiles, { recursive: true, force: true });
  });

  it('a POSTed SearchParameter is used after $reindex, for old and new resources', async () => {
    const blue = await create(t, eye('blue'));
    await create(t, eye('green'));
    const nick = await create(t, { resourceType: 'Patient', name: [{ use: 'nickname', given: ['Bubba'] }, { family: 'Gump' }] });
    expect((await t.http.get('/fhir/Patient?eye-colour=blue')).status).toBe(400);
    await create(t, searchParameter('eye-colour', "Patient.extension.where(url='http://example.org/fhir/StructureDefinition/eye-colour').value"));
    expect((await t.http.get('/fhir/Patient?eye-colour=blue')).status).toBe(400); // not before a reindex

    const r = await t.http.post('/fhir/$reindex').set('Content-Type', 'application/fhir+json').send({ resourceType: 'Parameters', parameter: [{ name: 'type', valueString: 'Patient' }] });
    expect(r.status).toBe(200);
    expect(r.body.parameter.find((p: any) => p.name === 'resources').valueInteger).toBe(3);
    expect(r.body.parameter.find((p: any) => p.name === 'customParameters').valueInteger).toBe(2);

    expect(await ids(t, 'Patient?eye-colour=blue')).toEqual([blue]);
    expect(await ids(t, 'Patient?nickname=bub')).toEqual([nick]); // shipped in fhir-profiles/
    const later = await create(t, eye('blue'));
    expect(await ids(t, 'Patient?eye-colour=blue')).toEqual([blue, later].sort());
  });

  it('$reindex changes state: GET is 405; a non-admin caller is refused', async () => {
    expect((await t.http.get('/fhir/$reindex')).status).toBe(405);
    const op = t.app.get(OperationRegistry).find('reindex', 'system')!;
    const ctx = { baseUrl: t.baseUrl, requestId: 'x', prefer: {}, auth: { clientId: 'app', scopes: [], rules: [], admin: false } };
    await expect(op.invoke({ ctx, level: 'system', params: [], method: 'POST', url: '/$reindex' })).rejects.toMatchObject({ status: 403 });
  });

  // async.html: 202 with Content-Location; polling it answers 202 + X-Progress until done, then 200 with the result
  it('with Prefer: respond-async the reindex runs as a background job: 202, Content-Location polled to its result', async () => {
    const r = await t.http.post('/fhir/$reindex?_type=Patient').set('Prefer', 'respond-async');
    expect(r.status).toBe(202);
    const location: string = r.headers['content-location'];
    expect(location).toMatch(new RegExp(`^${t.baseUrl.replace(/[$.]/g, '\\$&')}/\\$reindex-status\\?_jobId=`));
    const statusPath = `/fhir${location.slice(t.baseUrl.length)}`;
    const id = new URL(location).searchParams.get('_jobId')!;
    expect(r.body.issue[0].diagnostics).toContain(id);
    let poll = await t.http.get(statusPath);
    for (let i = 0; i < 100 && poll.status === 202; i++) {
      expect(poll.headers['x-progress']).toMatch(/^(queued|running|waiting to retry)/);
      expect(poll.headers['retry-after']).toBe('10');
      await new Promise((resolve) => setTimeout(resolve, 200));
      poll = await t.http.get(statusPath);
    }
    expect(poll.status).toBe(200);
    const patients = Number((await t.http.get('/fhir/Patient?_summary=count')).body.total);
    expect(poll.body.resourceType).toBe('Parameters');
    expect(poll.body.parameter.find((p: any) => p.name === 'resources').valueInteger).toBe(patients);
    expect((await t.app.get(JobQueue).job(REINDEX_QUEUE, id))?.state).toBe('completed');
    // the worker recorded where it got to (what X-Progress reads while it runs)
    const progress = await t.db.query(`SELECT progress FROM reindex_job_progress WHERE job_id = $1`, [id]);
    expect(progress.rows[0].progress).toMatchObject({ resourceType: 'Patient', done: patients, overall: patients });
  });

  it('the reindex status URL: unknown job 404, malformed id 400, not for non-admins, GET only', async () => {
    expect((await t.http.get('/fhir/$reindex-status?_jobId=00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await t.http.get('/fhir/$reindex-status?_jobId=x%27')).status).toBe(400);
    expect((await t.http.get('/fhir/$reindex-status')).status).toBe(400);
    expect((await t.http.post('/fhir/$reindex-status?_jobId=00000000-0000-4000-8000-000000000000')).status).toBe(405);
    const op = t.app.get(OperationRegistry).find('reindex-status', 'system')!;
    const ctx = { baseUrl: t.baseUrl, requestId: 'x', prefer: {}, auth: { clientId: 'app', scopes: [], rules: [], admin: false } };
    await expect(op.invoke({ ctx, level: 'system', params: [], method: 'GET', url: '/$reindex-status' })).rejects.toMatchObject({ status: 403 });
  });

  it('/metadata lists every supported parameter per type, with type and definition, and the includes', async () => {
    const cs = (await t.http.get('/fhir/metadata')).body;
    const rest = cs.rest[0];
    expect(rest.interaction.map((i: any) => i.code)).toContain('search-system');
    const obs = rest.resource.find((r: any) => r.type === 'Observation');
    const code = obs.searchParam.find((p: any) => p.name === 'code');
    expect(code).toEqual({ name: 'code', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/clinical-code' });
    expect(obs.searchParam.map((p: any) => p.name)).toEqual(expect.arrayContaining(['_id', '_lastUpdated', '_tag', 'subject', 'date', 'value-quantity', 'code-value-quantity', '_has']));
    expect(obs.searchInclude).toEqual(expect.arrayContaining(['*', 'Observation:subject', 'Observation:patient']));
    const patient = rest.resource.find((r: any) => r.type === 'Patient');
    expect(patient.searchRevInclude).toEqual(expect.arrayContaining(['Observation:subject', 'Condition:patient']));
    expect(patient.searchParam.map((p: any) => p.name)).toEqual(expect.arrayContaining(['eye-colour', 'nickname']));
    expect(obs.searchParam.map((p: any) => p.name)).not.toContain('near');
  });
});

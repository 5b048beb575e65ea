import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

// R4 http.html §3.1.0.11.2: a transaction is all or nothing, whatever its size. A transaction of more
// than BUNDLE_WRITE_CHUNK new resources is written in several statements (each sent while the next
// chunk is prepared, src/fhir/bundle/write-run.ts writeAll); here the chunk is 10, so 35 entries
// take four statements and every rule must hold across them.
describe('transaction Bundles written in chunks (http.html §3.1.0.11.2)', () => {
  const CHUNK = 10;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ BUNDLE_WRITE_CHUNK: String(CHUNK), AUTH_REQUIRED: 'false' });
  });
  afterAll(async () => t.close());

  const post = (entry: unknown[]) =>
    t.http.post('/fhir').set('Content-Type', FHIR_JSON).send({ resourceType: 'Bundle', type: 'transaction', entry });
  const count = async (path: string) => (await t.http.get(`/fhir/${path}${path.includes('?') ? '&' : '?'}_summary=count`)).body.total;

  /** n Observations of the tag; Observation i refers to Patient urn:uuid:p-<n-1-i> (later chunks to earlier and back). */
  const entries = (tag: string, n: number) => [
    ...Array.from({ length: n }, (_, i) => ({
      fullUrl: `urn:uuid:obs-${tag}-${i}`,
      resource: {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'urn:test', code: tag }] },
        subject: { reference: `urn:uuid:p-${tag}-${n - 1 - i}` },
        valueQuantity: { value: i, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' },
      },
      request: { method: 'POST', url: 'Observation' },
    })),
    ...Array.from({ length: n }, (_, i) => ({
      fullUrl: `urn:uuid:p-${tag}-${i}`,
      resource: { resourceType: 'Patient', identifier: [{ system: 'urn:test', value: `${tag}-${i}` }] },
      request: { method: 'POST', url: 'Patient' },
    })),
  ];

  it('writes every chunk: references across chunks rewritten, each resource indexed and audited once', async () => {
    const n = 35; // 70 creates: seven statements
    const res = await post(entries('across', n));
    expect(res.status).toBe(200);
    expect(res.body.entry).toHaveLength(2 * n);
    const location = (i: number) => res.body.entry[i].response.location.split('/_history')[0];
    for (const i of [0, 9, 10, 34]) {
      const obs = (await t.http.get(`/fhir/${location(i)}`)).body;
      // the Patient written for urn:uuid:p-across-<n-1-i> is entry n + (n-1-i)
      expect(obs.subject.reference).toBe(location(n + (n - 1 - i)));
      // its index rows were written with it: found by its subject and by its code
      const bySubject = await t.http.get(`/fhir/Observation?subject=${obs.subject.reference}`);
      expect(bySubject.body.entry.map((e: any) => e.resource.id)).toEqual([obs.id]);
    }
    expect(await count('Observation?code=urn:test|across')).toBe(n);
    expect(await count('Patient?identifier=urn:test|')).toBeGreaterThanOrEqual(n);
    const audited = await t.db.query(`SELECT count(*)::int AS n, count(DISTINCT entity_id)::int AS ids FROM audit_event WHERE entity_type IN ('Observation', 'Patient') AND subtype @> ARRAY['create']`);
    expect(audited.rows[0].n).toBe(audited.rows[0].ids);
    expect(audited.rows[0].n).toBeGreaterThanOrEqual(2 * n);
  });

  it('an invalid entry after some chunks were written rolls all of them back, and readers never see them', async () => {
    const n = 30;
    const bad = entries('rollback', n);
    // the 58th entry (6th chunk): written after five statements were sent
    (bad[57].resource as any).birthDate = 'not-a-date';
    const historyBefore = (await t.http.get('/fhir/Observation/_history?_count=1000')).body.entry?.length ?? 0;
    const seen = new Set<number>();
    let done = false;
    const reader = (async () => {
      while (!done) seen.add(await count('Observation?code=urn:test|rollback'));
    })();
    const res = await post(bad);
    done = true;
    await reader;
    expect([400, 422]).toContain(res.status);
    expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[57\]/);
    expect([...seen]).toEqual([0]);
    expect(await count('Observation?code=urn:test|rollback')).toBe(0);
    expect((await t.http.get('/fhir/Observation/_history?_count=1000')).body.entry?.length ?? 0).toBe(historyBefore);
    const rows = await t.db.query(`SELECT count(*)::int AS n FROM search_index WHERE param = 'code' AND value = 'rollback'`);
    expect(rows.rows[0].n).toBe(0);
    // the same Bundle, corrected, is written whole
    delete (bad[57].resource as any).birthDate;
    expect((await post(bad)).status).toBe(200);
    expect(await count('Observation?code=urn:test|rollback')).toBe(n);
  });

  it('updates of existing resources and many creates in one transaction', async () => {
    const existing = (await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', active: false })).body;
    const res = await post([
      ...entries('mixed', 12),
      { resource: { ...existing, active: true }, request: { method: 'PUT', url: `Patient/${existing.id}` } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.entry[24].response.status).toMatch(/^200/);
    expect((await t.http.get(`/fhir/Patient/${existing.id}`)).body).toMatchObject({ active: true, meta: { versionId: '2' } });
    expect(await count('Observation?code=urn:test|mixed')).toBe(12);
  });

  it('a Bundle no larger than a chunk is still one statement, and one larger than a chunk of plain creates a transaction: both atomic', async () => {
    const small = entries('small', CHUNK / 2);
    (small[CHUNK - 1].resource as any).gender = 'not-a-code';
    expect([400, 422]).toContain((await post(small)).status);
    expect(await count('Observation?code=urn:test|small')).toBe(0);
  });
});

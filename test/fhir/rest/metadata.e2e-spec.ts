import { startTestApp, TestApp } from '../../helpers/test-app';
import { loadDefinitions } from '../../../src/fhir/definitions/definitions';

describe('metadata and probes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('CapabilityStatement lists every R4 resource type with fhirVersion 4.0.1 (http.html §3.1.0.10)', async () => {
    const res = await t.http.get('/fhir/metadata');
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('CapabilityStatement');
    expect(res.body.fhirVersion).toBe('4.0.1');
    const types = res.body.rest[0].resource.map((r: any) => r.type);
    expect(types).toEqual(loadDefinitions().resourceTypes);
    expect(types).toContain('Patient');
    expect(types).toContain('ImmunizationRecommendation');
    expect(types.length).toBeGreaterThanOrEqual(145);
  });

  it('healthz and readyz', async () => {
    expect((await t.http.get('/healthz')).status).toBe(200);
    expect((await t.http.get('/readyz')).body.status).toBe('ready');
  });
});

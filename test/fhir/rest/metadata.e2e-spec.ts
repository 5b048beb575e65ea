import { startTestApp, TestApp } from '../../helpers/test-app';
import { loadDefinitions } from '../../../src/fhir/definitions/definitions';
import { AUDIT_SEARCH_PARAMS } from '../../../src/audit/audit-search';

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

  // R4 capabilitystatement.html: the statement describes what the server actually does
  it('claims only what is served: conditionalRead full-support, the five R4 compartments, AuditEvent read-only (capabilitystatement.html)', async () => {
    const rest = (await t.http.get('/fhir/metadata')).body.rest[0];
    expect([...rest.compartment].sort()).toEqual(
      ['device', 'encounter', 'patient', 'practitioner', 'relatedPerson'].map((c) => `http://hl7.org/fhir/CompartmentDefinition/${c}`),
    );
    const byType = new Map<string, any>(rest.resource.map((r: any) => [r.type, r]));
    const patient = byType.get('Patient');
    // If-None-Match and If-Modified-Since both answer 304 (ConditionalReadStatus full-support)
    expect(patient.conditionalRead).toBe('full-support');
    const p = (await t.http.post('/fhir/Patient').send({ resourceType: 'Patient' })).body;
    expect((await t.http.get(`/fhir/Patient/${p.id}`).set('If-None-Match', 'W/"1"')).status).toBe(304);
    expect((await t.http.get(`/fhir/Patient/${p.id}`).set('If-Modified-Since', new Date(Date.now() + 60_000).toUTCString())).status).toBe(304);
    expect(patient.conditionalCreate).toBe(true);
    // the audit trail lives in its own table: nothing reaches it through _revinclude
    for (const r of rest.resource) expect((r.searchRevInclude ?? []).filter((x: string) => x.startsWith('AuditEvent:'))).toEqual([]);
    const audit = byType.get('AuditEvent');
    expect(audit.interaction.map((i: any) => i.code).sort()).toEqual(['read', 'search-type', 'vread']);
    expect(audit.conditionalCreate).toBe(false);
    expect(audit.conditionalUpdate).toBe(false);
    expect(audit.conditionalDelete).toBe('not-supported');
    expect(audit.operation).toBeUndefined();
    expect(audit.searchInclude).toBeUndefined();
    expect(audit.searchRevInclude).toBeUndefined();
    expect(audit.searchParam.map((x: any) => x.name)).toEqual(AUDIT_SEARCH_PARAMS.map((x) => x.name));
  });

  it('healthz and readyz', async () => {
    expect((await t.http.get('/healthz')).status).toBe(200);
    expect((await t.http.get('/readyz')).body.status).toBe('ready');
  });
});

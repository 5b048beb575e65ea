import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

/**
 * $validate (resource-operation-validate.html): type and instance level, the
 * resource as the body or in Parameters.resource, optional profile and mode.
 * 200 with an OperationOutcome whether valid or not; nothing is stored.
 */
const US_CORE = path.join(__dirname, '../../../..', 'shared', 'fixtures', 'us-core', '6.1.0');
const PATIENT_PROFILE = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';

describe('$validate', () => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    // the US Core Patient profile and its value sets, when the fixtures are there
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fhir-profiles-'));
    if (fs.existsSync(US_CORE)) {
      for (const f of fs.readdirSync(US_CORE)) if (/^(StructureDefinition|ValueSet|CodeSystem)-/.test(f)) fs.copyFileSync(path.join(US_CORE, f), path.join(dir, f));
    }
    t = await startTestApp({ FHIR_PROFILES_DIR: dir });
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const validate = (url: string, body: unknown) => t.http.post(url).set('Content-Type', FHIR_JSON).send(body as object);
  const patient = { resourceType: 'Patient', name: [{ family: 'Chalmers' }], gender: 'male' };

  it('a valid resource: 200, an informational issue only', async () => {
    const res = await validate('/fhir/Patient/$validate', patient);
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue.every((i: any) => i.severity === 'information')).toBe(true);
  });

  it('an invalid resource: still 200, with the errors and their expressions; nothing is stored', async () => {
    const res = await validate('/fhir/Patient/$validate', { ...patient, gender: 'boy', birthDate: '1990-02-30' });
    expect(res.status).toBe(200);
    const errors = res.body.issue.filter((i: any) => i.severity === 'error');
    expect(errors.map((i: any) => [i.code, i.expression[0]])).toEqual(
      expect.arrayContaining([
        ['structure', 'Patient.birthDate'],
        ['code-invalid', 'Patient.gender'],
      ]),
    );
    await validate('/fhir/Patient/$validate', patient);
    const history = await t.http.get('/fhir/Patient/_history');
    expect(history.body.entry ?? []).toHaveLength(0);
  });

  it('accepts the resource inside Parameters', async () => {
    const params = { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { ...patient, gender: 'boy' } }] };
    const res = await validate('/fhir/Patient/$validate', params);
    expect(res.status).toBe(200);
    expect(res.body.issue).toEqual([expect.objectContaining({ severity: 'error', code: 'code-invalid', expression: ['Patient.gender'] })]);
  });

  it('validates a Parameters resource itself at Parameters/$validate', async () => {
    const res = await validate('/fhir/Parameters/$validate', { resourceType: 'Parameters', parameter: [{ name: 'x', valueFoo: 1 }] });
    expect(res.status).toBe(200);
    expect(res.body.issue[0].expression).toEqual(['Parameters.parameter[0].valueFoo']);
  });

  (fs.existsSync(US_CORE) ? it : it.skip)('checks the profile given as a parameter, even if the resource does not claim it', async () => {
    const params = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: patient },
        { name: 'profile', valueUri: PATIENT_PROFILE },
      ],
    };
    const res = await validate('/fhir/Patient/$validate', params);
    expect(res.status).toBe(200);
    expect(res.body.issue).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'required', expression: ['Patient.identifier'] })]));
    const byQuery = await validate(`/fhir/Patient/$validate?profile=${encodeURIComponent(PATIENT_PROFILE)}`, patient);
    expect(byQuery.body.issue.map((i: any) => i.expression?.[0])).toContain('Patient.identifier');
  });

  it('an explicitly requested profile that is not loaded is an error issue', async () => {
    const res = await validate('/fhir/Patient/$validate?profile=http://example.org/StructureDefinition/nope', patient);
    expect(res.status).toBe(200);
    expect(res.body.issue).toEqual([expect.objectContaining({ severity: 'error', code: 'not-supported' })]);
  });

  it('instance level: the id must match the URL; mode=delete answers without a resource', async () => {
    const res = await validate('/fhir/Patient/abc/$validate', { ...patient, id: 'xyz' });
    expect(res.status).toBe(200);
    expect(res.body.issue).toEqual([expect.objectContaining({ severity: 'error', expression: ['Patient.id'] })]);
    const same = await validate('/fhir/Patient/abc/$validate', { ...patient, id: 'abc' });
    expect(same.body.issue.every((i: any) => i.severity === 'information')).toBe(true);
    const del = await validate('/fhir/Patient/abc/$validate?mode=delete', {});
    expect(del.status).toBe(200);
  });

  it('400 when there is nothing to validate or the type does not match the URL', async () => {
    expect((await validate('/fhir/Patient/$validate', {})).status).toBe(400);
    expect((await validate('/fhir/Patient/$validate', { resourceType: 'Parameters', parameter: [] })).status).toBe(400);
    const mismatch = await validate('/fhir/Patient/$validate', { resourceType: 'Observation', status: 'final', code: { text: 'x' } });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.resourceType).toBe('OperationOutcome');
  });

  it('is announced in the CapabilityStatement', async () => {
    const cs = await t.http.get('/fhir/metadata');
    const patientResource = cs.body.rest[0].resource.find((r: any) => r.type === 'Patient');
    expect(patientResource.operation).toEqual(
      expect.arrayContaining([{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }]),
    );
  });
});

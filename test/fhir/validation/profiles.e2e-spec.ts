import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { OperationOutcome } from 'fhir/r4';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

/**
 * Profiles from FHIR_PROFILES_DIR enforced on writes (profiling.html,
 * resource.html#profile-tags): a resource whose meta.profile names a loaded
 * profile must conform to it (422 otherwise), an unknown profile is not an
 * error, and FHIR_REQUIRED_PROFILES makes a profile mandatory for a type.
 * Uses US Core 6.1.0 from the shared fixtures.
 */
const US_CORE = path.join(__dirname, '../../../..', 'shared', 'fixtures', 'us-core', '6.1.0');
const present = fs.existsSync(US_CORE);
if (!present) console.warn(`skipping profile tests: ${US_CORE} is absent`);
const describeIfUsCore = present ? describe : describe.skip;

const PATIENT_PROFILE = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';

/** The IG's conformance resources (not its examples), copied into a fresh folder. */
function copyProfiles(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fhir-profiles-'));
  for (const f of fs.readdirSync(US_CORE)) {
    if (/^(StructureDefinition|ValueSet|CodeSystem)-.*\.json$/.test(f)) fs.copyFileSync(path.join(US_CORE, f), path.join(dir, f));
  }
  return dir;
}

const example = (file: string) => JSON.parse(fs.readFileSync(path.join(US_CORE, 'examples', file), 'utf8'));

describeIfUsCore('profile validation (US Core 6.1.0 in FHIR_PROFILES_DIR)', () => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    dir = copyProfiles();
    t = await startTestApp({ FHIR_PROFILES_DIR: dir });
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const post = (resource: any) => t.http.post(`/fhir/${resource.resourceType}`).set('Content-Type', FHIR_JSON).send(resource);

  async function rejected(resource: any, code: string, expression: string, message?: RegExp) {
    const res = await post(resource);
    const oo = res.body as OperationOutcome;
    const found = oo.issue?.find(
      (i) => i.expression?.includes(expression) && i.code === code && (!message || message.test(i.diagnostics ?? '')),
    );
    if (res.status !== 422 || !found) {
      throw new Error(`expected 422 ${code} at ${expression} (${message}), got ${res.status} ${JSON.stringify(oo.issue)}`);
    }
    return found;
  }

  it('every US Core example is accepted', async () => {
    const files = fs.readdirSync(path.join(US_CORE, 'examples')).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(150);
    const refused: string[] = [];
    for (const f of files) {
      const res = await post(example(f));
      if (res.status !== 201) refused.push(`${f}: ${res.status} ${JSON.stringify(res.body.issue)}`);
    }
    expect(refused).toEqual([]);
  });

  it('must-have element: a us-core-patient without identifier is 422 at Patient.identifier', async () => {
    const p = example('Patient-example.json');
    delete p.identifier;
    await rejected(p, 'required', 'Patient.identifier', /us-core|USCore/i);
    // the same resource without the profile claim is valid base R4
    delete p.meta;
    expect((await post(p)).status).toBe(201);
  });

  it('tightened cardinality inside data types (Patient.identifier.system 1..1)', async () => {
    const p = example('Patient-example.json');
    p.identifier = [{ value: '12345' }];
    await rejected(p, 'required', 'Patient.identifier[0].system');
  });

  it('extension definitions named by the profile are enforced (us-core-race needs its text)', async () => {
    const p = example('Patient-example.json');
    const race = p.extension.find((e: any) => e.url.endsWith('us-core-race'));
    race.extension = race.extension.filter((e: any) => e.url !== 'text');
    await rejected(p, 'required', 'Patient.extension[0].extension', /text/);
  });

  it('slicing by pattern and fixed values: blood pressure needs both components and the vital-signs category', async () => {
    const bp = example('Observation-blood-pressure.json');
    bp.component = bp.component.slice(0, 1);
    await rejected(bp, 'required', 'Observation.component', /diastolic/);
    const bp2 = example('Observation-blood-pressure.json');
    bp2.category = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }];
    await rejected(bp2, 'required', 'Observation.category', /VSCat/);
  });

  it('pattern[x]: the blood pressure code must be LOINC 85354-9', async () => {
    const bp = example('Observation-blood-pressure.json');
    bp.code = { coding: [{ system: 'http://loinc.org', code: '8480-6' }] };
    await rejected(bp, 'value', 'Observation.code', /pattern/);
  });

  it('type restriction of a choice element (vital signs effective[x] is dateTime or Period)', async () => {
    const w = example('Observation-weight.json');
    delete w.effectiveDateTime;
    w.effectiveInstant = '1999-07-02T10:00:00Z';
    await rejected(w, 'value', 'Observation.effective.ofType(instant)', /not allowed/);
  });

  it('required binding to a core value set through a type slice (body weight units)', async () => {
    const w = example('Observation-weight.json');
    w.valueQuantity.code = 'stone';
    await rejected(w, 'code-invalid', 'Observation.value.ofType(Quantity).code', /ucum-bodyweight/);
  });

  it('required binding to an IG value set (smoking status: final or entered-in-error)', async () => {
    const s = example('Observation-some-day-smoker.json');
    s.status = 'preliminary'; // valid base R4, not US Core smoking status
    await rejected(s, 'code-invalid', 'Observation.status');
  });

  it('target profile restriction (us-core-observation-lab subject is a us-core-patient)', async () => {
    const lab = example('Observation-serum-total-bilirubin.json');
    lab.subject = { reference: 'Group/g1' };
    const res = await post(lab);
    expect(res.status).toBe(422);
    expect(res.body.issue.map((i: any) => i.expression[0])).toContain('Observation.subject.reference');
  });

  it('resources inside a Bundle are checked against the profiles they claim', async () => {
    const p = example('Patient-example.json');
    delete p.identifier;
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'urn:uuid:1', resource: p }] };
    await rejected(bundle, 'required', 'Bundle.entry[0].resource.identifier');
  });

  it('an unknown meta.profile is not an error', async () => {
    const res = await post({
      resourceType: 'Patient',
      meta: { profile: ['http://example.org/StructureDefinition/not-loaded'] },
      name: [{ family: 'X' }],
    });
    expect(res.status).toBe(201);
  });
});

describeIfUsCore('mandatory profiles (FHIR_REQUIRED_PROFILES)', () => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    dir = copyProfiles();
    t = await startTestApp({ FHIR_PROFILES_DIR: dir, FHIR_REQUIRED_PROFILES: `Patient=${PATIENT_PROFILE}` });
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a Patient that does not claim the profile must still conform to it', async () => {
    const res = await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', name: [{ family: 'X' }] });
    expect(res.status).toBe(422);
    expect(res.body.issue.map((i: any) => i.expression?.[0])).toEqual(expect.arrayContaining(['Patient.identifier', 'Patient.gender']));
    const p = example('Patient-example.json');
    delete p.meta;
    expect((await t.http.post('/fhir/Patient').set('Content-Type', FHIR_JSON).send(p)).status).toBe(201);
  });

  it('other types are not affected', async () => {
    const res = await t.http.post('/fhir/Basic').set('Content-Type', FHIR_JSON).send({ resourceType: 'Basic', code: { text: 'x' } });
    expect(res.status).toBe(201);
  });
});

import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

// search.html#token, the datatypes table: a `code` has its system "(implicit)": "the system is defined in the
// value set" its element is bound to (Patient.gender: administrative-gender, Observation.status:
// observation-status, ServiceRequest.intent: request-intent). So:
// - `[system]|[code]` "matches a Coding.code …, and the value of [system] matches the system property": a code
//   element matches when [system] is its binding's system (and the code is of that system); another system: no.
// - `[system]|` ("any element where the value of [system] matches the system property"): every value of it.
// - `|[code]` ("… and the Coding/Identifier has no system property"): decided NOT to match a code element whose
//   binding names a system: it has one, implicit (as HAPI, which indexes it); else one value would have a
//   system for `system|code` and none for `|code`.
// - `:not` negates the same match; `:above`/`:below` (`[system]|[code]`) follow the system's is-a hierarchy.
const GENDER = 'http://hl7.org/fhir/administrative-gender';
const OBS_STATUS = 'http://hl7.org/fhir/observation-status';
const INTENT = 'http://hl7.org/fhir/request-intent';

describe('token search on code elements: the implicit system of the binding (search.html#token)', () => {
  let t: TestApp;
  const patients: { id: string; gender?: string }[] = [];
  const observations: { id: string; status: string }[] = [];
  const requests: { id: string; intent: string }[] = [];
  const where = <T extends { id: string }>(rs: T[], keep: (r: T) => boolean) => sorted(rs.filter(keep).map((r) => r.id));

  beforeAll(async () => {
    t = await startTestApp();
    for (const gender of ['male', 'female', 'male', undefined]) {
      patients.push({ id: await create(t, { resourceType: 'Patient', ...(gender ? { gender } : {}) }), gender });
    }
    for (const status of ['final', 'amended', 'corrected', 'preliminary']) {
      observations.push({ id: await create(t, { resourceType: 'Observation', status, code: { text: 'x' } }), status });
    }
    for (const intent of ['order', 'original-order', 'instance-order', 'plan']) {
      requests.push({ id: await create(t, { resourceType: 'ServiceRequest', status: 'active', intent, subject: { reference: 'Patient/x' } }), intent });
    }
  });
  afterAll(async () => t.close());

  it('[system]|[code]: the binding\'s system matches, another system does not', async () => {
    const male = where(patients, (p) => p.gender === 'male');
    expect(male.length).toBe(2);
    expect(await ids(t, `Patient?gender=${GENDER}|male`)).toEqual(male);
    expect(await ids(t, `Patient?gender=${GENDER}|male,${GENDER}|female`)).toEqual(where(patients, (p) => !!p.gender));
    expect(await ids(t, `Patient?gender=http://example.org/gender|male`)).toEqual([]);
    // a code the system does not define is no value of it
    expect(await ids(t, `Patient?gender=${GENDER}|final`)).toEqual([]);
    expect(await ids(t, `Observation?status=${OBS_STATUS}|final`)).toEqual(where(observations, (o) => o.status === 'final'));
    expect(await ids(t, `Observation?status=${GENDER}|final`)).toEqual([]);
  });

  it('[system]|: every value of the binding\'s system; another system: none', async () => {
    expect(await ids(t, `Patient?gender=${GENDER}|`)).toEqual(where(patients, (p) => !!p.gender));
    expect(await ids(t, `Observation?status=${OBS_STATUS}|`)).toEqual(where(observations, () => true));
    expect(await ids(t, `Patient?gender=${OBS_STATUS}|`)).toEqual([]);
  });

  it('|[code]: a code element whose binding names a system has one (decided: no match)', async () => {
    expect(await ids(t, 'Patient?gender=|male')).toEqual([]);
    expect(await ids(t, 'Patient?gender=male')).toEqual(where(patients, (p) => p.gender === 'male'));
  });

  it(':not with a system: "do not have the value", including those with no value', async () => {
    expect(await ids(t, `Patient?gender:not=${GENDER}|male`)).toEqual(where(patients, (p) => p.gender !== 'male'));
    expect(await ids(t, `Patient?gender:not=http://example.org/gender|male`)).toEqual(where(patients, () => true));
    expect(await ids(t, `Observation?status:not=${OBS_STATUS}|final`)).toEqual(where(observations, (o) => o.status !== 'final'));
  });

  it(':below / :above in the is-a hierarchy of the bound CodeSystem (amended > corrected; order > original-order, filler-order > instance-order)', async () => {
    expect(await ids(t, `Observation?status:below=${OBS_STATUS}|amended`)).toEqual(where(observations, (o) => ['amended', 'corrected'].includes(o.status)));
    expect(await ids(t, `Observation?status:above=${OBS_STATUS}|corrected`)).toEqual(where(observations, (o) => ['amended', 'corrected'].includes(o.status)));
    expect(await ids(t, `ServiceRequest?intent:below=${INTENT}|order`)).toEqual(where(requests, (r) => r.intent !== 'plan'));
    expect(await ids(t, `ServiceRequest?intent:above=${INTENT}|instance-order`)).toEqual(where(requests, (r) => ['order', 'instance-order'].includes(r.intent)));
    expect(await ids(t, `ServiceRequest?intent:not=${INTENT}|order`)).toEqual(where(requests, (r) => r.intent !== 'order'));
  });

  it('a system whose codes are not enumerable (mimetypes: urn:ietf:bcp:13) matches any code of the element', async () => {
    const doc = (contentType: string) => create(t, { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { contentType } }] });
    const [plain, xml] = [await doc('text/plain'), await doc('text/xml')];
    expect(await ids(t, 'DocumentReference?contenttype=urn:ietf:bcp:13|text/plain')).toEqual([plain]);
    expect(await ids(t, 'DocumentReference?contenttype=urn:ietf:bcp:13|')).toEqual(sorted([plain, xml]));
    expect(await ids(t, 'DocumentReference?contenttype=http://example.org|text/plain')).toEqual([]);
  });

  it('a chain reads the target\'s code element with its system', async () => {
    const male = patients.find((p) => p.gender === 'male')!.id;
    const o = await create(t, { resourceType: 'Observation', status: 'final', code: { text: 'y' }, subject: { reference: `Patient/${male}` } });
    expect(await ids(t, `Observation?subject:Patient.gender=${GENDER}|male`)).toEqual([o]);
    expect(await ids(t, `Observation?subject:Patient.gender=${GENDER}|female`)).toEqual([]);
  });
});

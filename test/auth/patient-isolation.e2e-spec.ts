import { BOB_MARKER, loadFixtures, tokenFor } from './scope-fixtures';
import { SmartApp, startSmartApp } from './smart-helpers';

/**
 * A patient-scoped token never sees another patient's data, whatever the
 * route: read, vread, history, every search form (chains, _has, _include,
 * _revinclude, :iterate, system search, compartment search, POST _search),
 * batches and operations. Bob's resources all carry BOB_MARKER; no answer
 * to Alice's token may contain it (SMART App Launch 2.0 §"patient/ scopes";
 * R4 CompartmentDefinition-patient).
 */
describe('patient isolation across every route', () => {
  let s: SmartApp;
  let alice: string;
  let aliceV1: string;
  beforeAll(async () => {
    s = await startSmartApp();
    await loadFixtures(s);
    alice = await tokenFor(s, 'alice', 'patient/*.rs');
    aliceV1 = await tokenFor(s, 'alice', 'patient/*.read');
  });
  afterAll(async () => s?.close());

  const routes = [
    '/fhir/Observation',
    '/fhir/Observation?_count=1000',
    '/fhir/Observation/obs-b-vital',
    '/fhir/Observation/obs-b-vital/_history',
    '/fhir/Observation/obs-b-vital/_history/1',
    '/fhir/Patient/bob',
    '/fhir/Patient',
    '/fhir/Patient?name=Roberts',
    '/fhir/Observation?subject=Patient/bob',
    '/fhir/Observation?patient=bob',
    '/fhir/Observation?subject:Patient.name=Roberts',
    '/fhir/Observation?subject.name=Bob',
    '/fhir/Patient?_has:Observation:subject:code=8867-4',
    '/fhir/Patient?_has:Condition:subject:code:text=' + BOB_MARKER,
    '/fhir/Observation?_include=Observation:subject',
    '/fhir/Observation?_include=*',
    '/fhir/DiagnosticReport?_include=DiagnosticReport:result',
    '/fhir/DiagnosticReport?_include=DiagnosticReport:result&_include:iterate=Observation:subject',
    '/fhir/Observation?_revinclude=DiagnosticReport:result',
    '/fhir/Patient?_revinclude=Observation:subject&_revinclude=Condition:subject',
    '/fhir/Practitioner?_revinclude=Observation:performer',
    '/fhir/Practitioner?_revinclude:iterate=Observation:performer&_revinclude:iterate=DiagnosticReport:result',
    '/fhir?_type=Observation,Condition,Patient,DiagnosticReport,Encounter',
    '/fhir?_type=Condition&_content=' + BOB_MARKER,
    '/fhir/Condition?_text=' + BOB_MARKER,
    '/fhir/Condition?code:text=' + BOB_MARKER,
    '/fhir/Patient/bob/Observation',
    '/fhir/Patient/bob/Condition',
    '/fhir/Patient/alice/DiagnosticReport?_include=DiagnosticReport:result',
    '/fhir/Encounter',
    '/fhir/Encounter/enc-b',
    '/fhir/Bundle/stored-doc',
    '/fhir/Bundle',
    '/fhir/Basic',
    '/fhir/_history',
    '/fhir/Observation/_history',
    '/fhir/Patient/bob/$everything',
    '/fhir/Patient/alice/$everything',
    '/fhir/Patient/$everything',
    '/fhir/Observation/$lastn?patient=bob',
    '/fhir/Observation/$lastn?patient=alice&max=5',
    '/fhir/Observation/$lastn?category=vital-signs&patient=Patient/bob',
    '/fhir/$export',
  ];

  it.each(routes)('GET %s', async (url) => {
    for (const token of [alice, aliceV1]) {
      const res = await s.http.get(url).set('Authorization', `Bearer ${token}`);
      expect(res.status).not.toBe(500);
      // (the self link echoes the query, which may name the marker)
      expect(JSON.stringify({ ...res.body, link: undefined })).not.toContain(BOB_MARKER);
      if (res.status === 200 && res.body.resourceType === 'Bundle') {
        for (const e of res.body.entry ?? []) expect(JSON.stringify(e.resource ?? {})).not.toMatch(/"Patient\/bob"|"id":"bob"/);
      }
    }
  });

  it('a malformed instance id under a patient token is refused (404 from the scope check, which finds no such resource in her compartment, or 400), never a 500', async () => {
    for (const url of ['/fhir/Patient/%00', '/fhir/Observation/a%00b/_history', '/fhir/Binary/%00']) {
      const res = await s.http.get(url).set('Authorization', `Bearer ${alice}`);
      expect([url, [400, 404].includes(res.status), res.body.resourceType]).toEqual([url, true, 'OperationOutcome']);
    }
    const put = await s.http.put('/fhir/Observation/a%00').set('Authorization', `Bearer ${alice}`).send({ resourceType: 'Observation', id: 'a\u0000' });
    // her token may not write at all: the scope refusal comes first
    expect([put.status, put.body.resourceType]).toEqual([403, 'OperationOutcome']);
  });

  it('POST _search (form body) is bounded like GET', async () => {
    for (const url of ['/fhir/Observation/_search', '/fhir/_search']) {
      const res = await s.http
        .post(url)
        .set('Authorization', `Bearer ${alice}`)
        .type('form')
        .send({ subject: 'Patient/bob', _type: 'Observation' });
      expect(res.text).not.toContain(BOB_MARKER);
    }
  });

  it('batch entries of every kind are bounded too', async () => {
    const entry = (url: string) => ({ request: { method: 'GET', url } });
    const batch = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: ['Observation?subject=Patient/bob', 'Condition', 'Patient?_revinclude=Condition:subject', 'Patient/bob/Condition'].map(entry),
    };
    const res = await s.http.post('/fhir').set('Authorization', `Bearer ${alice}`).send(batch);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(BOB_MARKER);
    for (const url of ['Condition/cond-b', 'Observation/obs-b-vital/_history/1', 'Patient/bob/_history']) {
      const one = await s.http.post('/fhir').set('Authorization', `Bearer ${alice}`).send({ ...batch, entry: [entry(url)] });
      expect(one.text).not.toContain(BOB_MARKER);
    }
  });

  it('the same routes do show Bob his own data (the marker is reachable)', async () => {
    const bob = await tokenFor(s, 'bob', 'patient/*.rs');
    for (const url of ['/fhir/Condition', `/fhir/Condition?code:text=${BOB_MARKER}`, '/fhir/Observation?_include=Observation:subject']) {
      const res = await s.http.get(url).set('Authorization', `Bearer ${bob}`);
      expect(res.status).toBe(200);
      expect(JSON.stringify({ ...res.body, link: undefined })).toContain(BOB_MARKER);
    }
  });
});

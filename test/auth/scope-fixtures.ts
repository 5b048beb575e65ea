import { FHIR_JSON } from '../helpers/test-app';
import { backendToken, SmartApp, userToken } from './smart-helpers';

/** A marker in every resource of Bob's: no response to Alice's tokens may contain it. */
export const BOB_MARKER = 'BOB-PRIVATE-7f3a';

const VITAL = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] };
const LAB = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] };

export const obs = (id: string, patient: string, category: object, note = 'ok') => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  category: [category],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: 'Heart rate' },
  subject: { reference: `Patient/${patient}` },
  performer: [{ reference: 'Practitioner/dr-smith' }],
  note: [{ text: note }],
});

/** Two patients' records (Alice's and Bob's) plus shared and non-compartment resources. */
export function fixtureResources() {
  return [
    { resourceType: 'Patient', id: 'alice', name: [{ family: 'Alison', given: ['Alice'] }], gender: 'female' },
    { resourceType: 'Patient', id: 'bob', name: [{ family: 'Roberts', given: ['Bob'], text: BOB_MARKER }], gender: 'male' },
    { resourceType: 'Practitioner', id: 'dr-smith', name: [{ family: 'Smith' }] },
    obs('obs-a-vital', 'alice', VITAL),
    obs('obs-a-lab', 'alice', LAB),
    obs('obs-b-vital', 'bob', VITAL, BOB_MARKER),
    { resourceType: 'Condition', id: 'cond-a', subject: { reference: 'Patient/alice' }, code: { text: 'asthma' } },
    { resourceType: 'Condition', id: 'cond-b', subject: { reference: 'Patient/bob' }, code: { text: BOB_MARKER } },
    {
      resourceType: 'DiagnosticReport',
      id: 'dr-a',
      status: 'final',
      code: { text: 'panel' },
      subject: { reference: 'Patient/alice' },
      // a report of Alice's that (wrongly) points at Bob's result: _include must not follow it
      result: [{ reference: 'Observation/obs-a-lab' }, { reference: 'Observation/obs-b-vital' }],
    },
    {
      resourceType: 'DiagnosticReport',
      id: 'dr-b',
      status: 'final',
      code: { text: BOB_MARKER },
      subject: { reference: 'Patient/bob' },
      result: [{ reference: 'Observation/obs-b-vital' }],
    },
    { resourceType: 'Encounter', id: 'enc-b', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/bob' } },
    { resourceType: 'Binary', id: 'bin-a', contentType: 'text/plain', securityContext: { reference: 'Observation/obs-a-vital' }, data: Buffer.from('alice doc').toString('base64') },
    { resourceType: 'Binary', id: 'bin-b', contentType: 'text/plain', securityContext: { reference: 'Observation/obs-b-vital' }, data: Buffer.from(BOB_MARKER).toString('base64') },
    { resourceType: 'Binary', id: 'bin-free', contentType: 'text/plain', data: Buffer.from(BOB_MARKER).toString('base64') },
    {
      resourceType: 'Bundle',
      id: 'stored-doc',
      type: 'collection',
      entry: [{ resource: { resourceType: 'Basic', code: { text: BOB_MARKER } } }],
    },
  ];
}

export async function loadFixtures(s: SmartApp): Promise<string> {
  const admin = (await backendToken(s, 'system/*.cruds', 'ec-backend')).body.access_token as string;
  for (const r of fixtureResources()) {
    const res = await s.http
      .put(`/fhir/${r.resourceType}/${r.id}`)
      .set('Authorization', `Bearer ${admin}`)
      .set('Content-Type', FHIR_JSON)
      .send(r);
    if (res.status >= 300) throw new Error(`fixture ${r.resourceType}/${r.id}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return admin;
}

/** Access token of a user through the real code flow (demo-app, PKCE). */
export async function tokenFor(s: SmartApp, username: 'alice' | 'bob' | 'dr.smith' | 'admin', scope: string, pick?: string) {
  const passwords = { alice: 'alice pw', bob: 'bob pw', 'dr.smith': 'correct horse', admin: 'admin pw' };
  const res = await userToken(s, { scope, username, password: passwords[username], pick });
  if (res.status !== 200) throw new Error(`token for ${username} ${scope}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

export function ids(bundle: any): string[] {
  return (bundle.entry ?? []).filter((e: any) => e.resource?.resourceType !== 'OperationOutcome').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
}

import type { AuditEvent, Bundle } from 'fhir/r4';
import { AUDIT_SEARCH_PARAMS } from '../../src/audit/audit-search';
import { AuditService } from '../../src/audit/audit.service';
import { loadFixtures, tokenFor } from '../auth/scope-fixtures';
import { authorizeThroughPages, backendToken, SmartApp, startSmartApp } from '../auth/smart-helpers';
import { FHIR_JSON } from '../helpers/test-app';
import { matches, queriesFrom, valuesOf } from './audit-search-oracle';

// Oracle of the AuditEvent search (served by SQL over `audit_event`, src/audit/audit-search.ts)
// against the AuditEvents the server renders (src/audit/audit-event.resource.ts): for every parameter
// it serves, values taken from the rendered events by the parameter's official R4 expression
// (auditevent.html#search, search-parameters.json), and the events expected are those whose R4
// value matches by the parameter type's rules (search.html#token, #string, #uri, #reference, #date
// with its prefixes). The trail is varied: REST interactions of a patient user, a practitioner
// user (fhirUser), a backend client and an admin; writes, batch entries, an operation, failures
// and security events from several clients, users and network addresses.
describe('AuditEvent search against the R4 SearchParameters (oracle)', () => {
  let s: SmartApp;
  let admin: string;
  let registered: string;
  let readers: { name: string; token: string }[];
  let patients: string[];
  beforeAll(async () => {
    s = await startSmartApp();
    admin = await tokenFor(s, 'admin', 'user/*.cruds');
    await loadFixtures(s);
    const alice = await tokenFor(s, 'alice', 'patient/*.cruds');
    const dr = await tokenFor(s, 'dr.smith', 'openid fhirUser user/*.cruds');
    const backend = (await backendToken(s, 'system/*.rs system/Patient.cruds')).body.access_token as string;
    const call = (method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, token: string | undefined, body?: unknown, type = FHIR_JSON) => {
      let r = s.http[method](`/fhir/${path}`);
      if (token) r = r.set('Authorization', `Bearer ${token}`);
      if (body !== undefined) r = r.set('Content-Type', type).send(body as object);
      return r;
    };
    // reads, vread, searches (type, compartment, system) and a failure of the patient user
    await call('get', 'Patient/alice', alice);
    await call('get', 'Patient/alice/_history/1', alice);
    await call('get', 'Observation?patient=alice', alice);
    await call('get', 'Patient/alice/Observation', alice);
    await call('get', 'Observation/obs-b-vital', alice);
    // the practitioner: writes of a Patient and of a resource referring to it, batch, operation, 404, 400
    await call('get', 'Observation/obs-a-vital', dr);
    await call('get', 'Condition?subject=Patient/bob', dr);
    await call('get', '?_type=Patient', dr);
    const carol = (await call('post', 'Patient', dr, { resourceType: 'Patient', name: [{ family: 'Carol' }] })).body.id as string;
    await call('put', `Patient/${carol}`, dr, { resourceType: 'Patient', id: carol, name: [{ family: 'Carol', given: ['C'] }] });
    await call('patch', `Patient/${carol}`, dr, [{ op: 'add', path: '/gender', value: 'female' }], 'application/json-patch+json');
    const o = (await call('post', 'Observation', dr, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${carol}` } })).body.id;
    await call('delete', `Observation/${o}`, dr);
    await call('post', '', dr, {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Patient/bob' } },
        { request: { method: 'GET', url: 'Observation?patient=alice' } },
        { request: { method: 'PUT', url: 'Condition/cond-c' }, resource: { resourceType: 'Condition', id: 'cond-c', subject: { reference: `Patient/${carol}` } } },
        { request: { method: 'GET', url: 'Patient/nobody' } },
      ],
    });
    await call('get', 'Patient/alice/$everything', dr);
    await call('get', 'Patient/nobody', dr);
    await call('get', 'Patient?birthdate=not-a-date', dr);
    // the backend client
    await call('get', 'Patient/bob', backend);
    await call('get', 'Patient?name=Rob', backend);
    await call('get', 'Observation', backend);
    await call('delete', `Patient/${carol}`, backend);
    // security events: no token, a failed login, a refused client, and some from other addresses
    await call('get', 'Patient/alice', undefined);
    await authorizeThroughPages(s, { scope: 'openid fhirUser user/*.rs', username: 'bob', password: 'wrong password' });
    await s.http.post('/auth/token').type('form').send({ grant_type: 'client_credentials', client_id: 'lab-portal', client_secret: 'not it' });
    const audit = s.app.get(AuditService);
    await audit.recordSecurityEvent({ kind: 'login', success: true, username: 'dr.smith', fhirUser: 'Practitioner/dr-smith', clientId: 'demo-app', network: '10.1.2.3' });
    await audit.recordSecurityEvent({ kind: 'login', success: false, username: 'alice', clientId: 'demo-app', network: '192.168.7.20', description: 'bad password' });
    await audit.recordSecurityEvent({ kind: 'token-issued', success: true, clientId: 'lab-portal', tokenId: 'jti-lab-1', network: '10.1.2.30' });
    await audit.recordSecurityEvent({ kind: 'token-issued', success: true, username: 'bob', fhirUser: 'Patient/bob', clientId: 'demo-app', tokenId: 'jti-bob-1', patient: 'bob', network: '10.9.0.1' });
    await audit.recordSecurityEvent({ kind: 'token-refused', success: false, clientId: 'post-client', network: '2001:DB8::1' });
    // a login with accents (search.html#string: accent-insensitive)
    await audit.recordSecurityEvent({ kind: 'login', success: false, username: 'José.Núñez', clientId: 'demo-app', network: '10.1.2.4' });
    // a client registration: the client registered is an entity by identifier (no literal reference)
    const reg = await s.http
      .post('/auth/register')
      .set('Authorization', `Bearer ${admin}`)
      .send({ client_name: 'Oracle app', redirect_uris: ['http://localhost:9999/cb'], grant_types: ['authorization_code'] });
    registered = reg.body.client_id;
    // readers of the trail whose view differs: a patient (each event as their own) and a practitioner with both scopes
    // (the admin first: the trail as built; the searches of each reader are events the next ones see)
    readers = [
      { name: 'admin', token: admin },
      { name: 'alice patient/AuditEvent.rs', token: await tokenFor(s, 'alice', 'launch/patient patient/AuditEvent.rs') },
      { name: 'dr.smith patient/ + user/AuditEvent.rs', token: await tokenFor(s, 'dr.smith', 'openid fhirUser launch/patient patient/AuditEvent.rs user/AuditEvent.rs', 'alice') },
    ];
    patients = [`Patient/${carol}`];
  }, 120_000);
  afterAll(async () => s?.close());

  /** Every page of a search, as the admin. */
  async function readAll(url: string, token = admin, done?: (page: AuditEvent[]) => boolean): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    let next: string | undefined = url;
    while (next) {
      const res = await s.http.get(next).set('Authorization', `Bearer ${token}`);
      if (res.status !== 200) throw new Error(`${next}: ${res.status} ${JSON.stringify(res.body)}`);
      const bundle = res.body as Bundle;
      const page = (bundle.entry ?? []).map((x) => x.resource as AuditEvent);
      out.push(...page);
      if (done?.(page)) break;
      const link = bundle.link?.find((l) => l.relation === 'next')?.url;
      next = link ? (() => { const u = new URL(link); return u.pathname + u.search; })() : undefined;
    }
    return out;
  }
  /** The trail as a reader sees it, and the search of that reader restricted to it (searching adds events: those are left out). */
  async function view(token: string) {
    const snapshot = await readAll('/fhir/AuditEvent?_count=1000', token);
    const ids = new Set(snapshot.map((e) => e.id!));
    // oldest first, by pages (next links), until past the snapshot's last event
    const last = snapshot.map((e) => e.recorded).sort().pop()!;
    const past = (page: AuditEvent[]) => page.length > 0 && page[page.length - 1].recorded > last;
    const searchIds = async (query: string) =>
      (await readAll(`/fhir/AuditEvent?${query}&_sort=date&_count=200`, token, past)).map((e) => e.id!).filter((id) => ids.has(id)).sort();
    return { snapshot, ids, searchIds };
  }

  /** Strings found in the events (client ids, logins, addresses, references): each parameter is also searched by them. */
  function probes(snapshot: AuditEvent[]): string[] {
    const out = new Set<string>(['anonymous', 'ehr-sync', 'demo-app', 'lab-portal', 'dr.smith', 'alice', 'DR.', 'jose', 'JOSÉ.NÚ', 'Practitioner/dr-smith', 'Patient/alice', 'Patient/bob', 'bob', ...patients]);
    for (const e of snapshot) for (const a of e.agent) if (a.network?.address) out.add(a.network.address);
    return [...out];
  }

  /**
   * For every parameter served: values from the reader's events by the R4 expression (plus the probes), the
   * server's answer against the events whose R4 value matches (search.html per type; auditevent.html#search).
   */
  async function oracle(token: string) {
    const { snapshot, searchIds } = await view(token);
    const disagreements: unknown[] = [];
    const vacuous: string[] = [];
    const base = s.baseUrl;
    // events spread over the trail, for values that differ per event (dates, ids)
    const spread = snapshot.filter((_, i) => i % Math.max(1, Math.floor(snapshot.length / 6)) === 0);
    let searches = 0;
    for (const { name } of AUDIT_SEARCH_PARAMS) {
      const v = valuesOf(name);
      const from = name === 'date' || name === '_id' ? spread : snapshot;
      const values = new Set([...queriesFrom(v, from, base), ...(name === 'date' || name === '_id' ? [] : probes(snapshot))]);
      const queries: [string, string, (e: AuditEvent) => boolean][] = [...values].map((q) => [name, q, (e) => matches(v, q, e, base)]);
      // search.html#string `:exact`: the whole value, case and accents as they are
      if (v.type === 'string') for (const q of values) queries.push([`${name}:exact`, q, (e) => v.of(e).some((t) => t.value === q)]);
      let someMatch = false;
      let someExcluded = false;
      const t0 = Date.now();
      for (const [key, q, match] of queries) {
        const expected = snapshot.filter(match).map((e) => e.id!).sort();
        searches++;
        let actual: string[];
        try {
          actual = await searchIds(`${key}=${encodeURIComponent(q)}`);
        } catch (err) {
          // outcome is bound (required) to 0 4 8 12: another code matches nothing, and a 400 says so
          if (name === 'outcome' && !expected.length && !/^(.*\|)?(0|4|8|12)$/.test(q) && String(err).includes(': 400 ')) continue;
          // a value the parameter's type allows must not be refused (search.html: a 400 only for a malformed value)
          disagreements.push({ param: key, query: q, error: String(err).slice(0, 200), expected: expected.length });
          continue;
        }
        if (expected.length) someMatch = true;
        if (expected.length < snapshot.length) someExcluded = true;
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          const show = (list: string[]) => list.slice(0, 3).map((id) => summary(snapshot.find((e) => e.id === id)!));
          disagreements.push({
            param: key,
            query: q,
            missing: expected.filter((id) => !actual.includes(id)).length,
            extra: actual.filter((id) => !expected.includes(id)).length,
            missingExamples: show(expected.filter((id) => !actual.includes(id))),
            extraExamples: show(actual.filter((id) => !expected.includes(id))),
          });
        }
      }
      if (process.env.AUDIT_ORACLE_DUMP) console.log(`${name}: ${queries.length} searches, ${Date.now() - t0} ms`);
      if (!someMatch || !someExcluded) vacuous.push(`${name}: ${someMatch ? '' : 'no value matches any event'}${someExcluded ? '' : ' no value excludes an event'}`);
    }
    return { events: snapshot.length, searches, disagreements, vacuous };
  }

  it('every parameter served agrees with its R4 expression over the rendered events, for each kind of reader', async () => {
    const started = Date.now();
    const disagreements: unknown[] = [];
    const vacuous: unknown[] = [];
    // the trail is varied: every kind of interaction and security event built above
    const kinds = new Set((await view(admin)).snapshot.flatMap((e) => (e.subtype ?? []).map((c) => c.code)));
    for (const k of ['read', 'vread', 'search-type', 'search-system', 'create', 'update', 'patch', 'delete', 'batch', 'operation', '110122', 'token-issued', 'token-refused', 'client-registered']) {
      expect([k, kinds.has(k)]).toEqual([k, true]);
    }
    for (const reader of readers) {
      const r = await oracle(reader.token);
      console.log(`audit search oracle (${reader.name}): ${r.events} events, ${r.searches} searches`);
      disagreements.push(...r.disagreements.map((d) => ({ reader: reader.name, ...(d as object) })));
      // not vacuous: per parameter a value some events match and one that excludes some
      vacuous.push(...r.vacuous.map((v) => `${reader.name}: ${v}`));
    }
    if (process.env.AUDIT_ORACLE_DUMP) require('fs').writeFileSync(process.env.AUDIT_ORACLE_DUMP, JSON.stringify(disagreements, null, 1));
    console.log(`audit search oracle: ${Date.now() - started} ms`);
    expect(disagreements).toEqual([]);
    expect(vacuous).toEqual([]);
  }, 300_000);

  // R4 compartments (compartmentdefinition-patient / -practitioner): AuditEvent by `patient`, by `agent`
  it('Patient/{id}/AuditEvent and Practitioner/{id}/AuditEvent are the compartment by the R4 patient and agent expressions', async () => {
    const base = s.baseUrl;
    const { snapshot, ids } = await view(admin);
    const disagreements: unknown[] = [];
    for (const [type, param] of [['Patient', 'patient'], ['Practitioner', 'agent']] as const) {
      const v = valuesOf(param);
      const refs = new Set(snapshot.flatMap((e) => v.of(e).map((t) => t.value?.reference as string)).filter((r) => r?.startsWith(`${type}/`)));
      expect(refs.size).toBeGreaterThan(0);
      for (const ref of refs) {
        const id = ref.split('/')[1];
        const expected = snapshot.filter((e) => matches(v, `${type}/${id}`, e, base)).map((e) => e.id!).sort();
        const actual = (await readAll(`/fhir/${type}/${id}/AuditEvent?_count=1000`)).map((e) => e.id!).filter((x) => ids.has(x)).sort();
        if (JSON.stringify(actual) !== JSON.stringify(expected)) disagreements.push({ compartment: `${type}/${id}`, expected: expected.length, actual: actual.length });
      }
    }
    expect(disagreements).toEqual([]);
  }, 120_000);

  // the client registered is rendered as `entity.what.identifier` (urn:ietf:params:oauth:client-id), not a
  // literal reference: by R4 (search.html#reference, an identifier is searched with `:identifier`) a plain
  // `entity=<client_id>` matches nothing (audit-security.e2e-spec.ts checks `entity:identifier`)
  it('entity=<client_id> of a registered client: R4 matches no reference, the server finds the registration', async () => {
    const v = valuesOf('entity');
    const { snapshot, searchIds } = await view(admin);
    const expected = snapshot.filter((e) => matches(v, registered, e, s.baseUrl)).map((e) => e.id!);
    expect(await searchIds(`entity=${encodeURIComponent(registered)}`)).toEqual(expected);
  });
});

function summary(e: AuditEvent): string {
  const who = e.agent.map((a) => a.who?.reference ?? a.who?.identifier?.value ?? a.who?.display).join(',');
  return `${e.subtype?.map((c) => c.code).join('+')} ${e.outcome} agents=${who} entities=${(e.entity ?? []).map((x) => x.what?.reference ?? x.type?.code).join(',')}`;
}

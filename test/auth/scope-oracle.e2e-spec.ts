import type { Bundle } from 'fhir/r4';
import { FHIR_JSON } from '../helpers/test-app';
import { compartmentPatients, COMPARTMENT_TYPES } from '../fhir/search/compartments';
import { evaluate } from '../fhir/search/r4-examples-sweep-values';
import { patientBundleFiles, readBundle, resourcesOf, syntheaPresent } from '../fhir/search/synthea-fixtures';
import { BOB_MARKER, fixtureResources, loadFixtures, tokenFor } from './scope-fixtures';
import { SmartApp, startSmartApp } from './smart-helpers';

/**
 * Oracle sweep of what patient-scoped SMART tokens of Alice's may see (SMART App Launch 2.0 patient/
 * scopes; README, Security: "`patient/` rules are bounded to the Patient compartment of the token's
 * patient (R4 CompartmentDefinition, plus the Patient itself); they may also read and search shared
 * directory, medication and conformance types (Practitioner, Organization, Location, Medication,
 * ValueSet, …) but nothing else outside the compartment (Binary, Bundle, Device, …)").
 *
 * The data: the fixtures of scope-fixtures.ts (Patients alice and bob, a few of their resources, Binary,
 * Bundle), and a Synthea record for each (the two smallest of `smart-generated-sample-data`, the Patient
 * rewritten to alice / bob and every reference to it with it), with their Practitioners and
 * Organizations, plus shared Locations and Medications referred to by both records, and resources with
 * a history that crosses the two records.
 *
 * The oracle, computed here: a resource is in Alice's compartment when the FHIRPath expression of one of
 * its CompartmentDefinition-patient parameters names Patient/alice (test/fhir/search/patient-compartment.ts);
 * a token sees what one of its rules allows: the rule's type, the compartment (or a shared type for
 * read/search), and the rule's granular filter (category, evaluated on the resource). Every resource of
 * every answer (Bundle entries, includes, batch entries, outcomes) must be in that set; an
 * OperationOutcome, a Parameters or any resource not stored here must not name Bob's resources or his
 * name (except what the request itself named).
 */
const present = syntheaPresent();
if (!present) console.warn('skipping the SMART scope oracle: ../shared/fixtures/synthea not found');

const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const LAB_FILTER = `${CATEGORY}|laboratory`;
/** The shared types the README names (the universe holds no other shared type). */
const SHARED = new Set(['Practitioner', 'PractitionerRole', 'Organization', 'Location', 'Medication', 'ValueSet']);
const BOB_TAG = 'BOB-TAG-91c2';

interface Tok {
  name: string;
  token: string;
  /** the resource types with a rule (undefined: `*`) */
  types?: Set<string>;
  filter?: (r: any) => boolean;
}

(present ? describe : describe.skip)('SMART patient-scope oracle: nothing outside the token patient\'s compartment, types and filter', () => {
  let s: SmartApp;
  let admin: string;
  const universe = new Map<string, any>();
  const key = (r: any) => `${r.resourceType}/${r.id}`;
  const inAlice = new Set<string>();
  const inBob = new Set<string>();
  /** strings that only Bob's data holds: his record's ids, his name, the marker, his tag */
  const secrets: string[] = [];
  const toks: Record<'all' | 'user' | 'obs' | 'lab', Tok> = {} as any;

  const isLab = (r: any) =>
    evaluate('Observation.category.coding', r).some((c) => c.value.system === CATEGORY && c.value.code === 'laboratory');
  const isVital = (r: any) =>
    evaluate('Observation.category.coding', r).some((c) => c.value.system === CATEGORY && c.value.code === 'vital-signs');

  /** May the token see the stored resource `k` (read or search)? */
  const visible = (tok: Tok, k: string): boolean => {
    const r = universe.get(k);
    if (!r) return false;
    if (tok.types && !tok.types.has(r.resourceType)) return false;
    if (tok.filter && !tok.filter(r)) return false;
    return inAlice.has(k) || SHARED.has(r.resourceType);
  };
  const grants = (tok: Tok, type: string) => !tok.types || tok.types.has(type);
  const visibleOf = (tok: Tok, type: string) => [...universe.keys()].filter((k) => k.startsWith(`${type}/`) && visible(tok, k)).sort();
  const bobOnly = () => [...universe.keys()].filter((k) => inBob.has(k) && !inAlice.has(k)).sort();

  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

  /**
   * Every resource of an answer judged against the oracle: leaks are pushed to `out`. A stored resource
   * must be visible (judged by its current content) and must not carry the marker (an older version of
   * Bob's); anything else must not name Bob's secrets not named in the request.
   */
  const judge = (tok: Tok, label: string, request: string, body: any, out: string[]) => {
    const walk = (node: any, where: string) => {
      if (!node || typeof node !== 'object' || typeof node.resourceType !== 'string') return;
      const k = key(node);
      if (node.resourceType === 'Bundle' && !universe.has(k)) {
        // paging links (cursors) must not carry Bob's ids either
        const links = JSON.stringify(node.link ?? []);
        const inLinks = secrets.filter((x) => links.includes(x) && !request.includes(x));
        if (inLinks.length) out.push(`${tok.name} ${label}: ${where}.link names ${inLinks.slice(0, 3).join(', ')}`);
        (node.entry ?? []).forEach((e: any, i: number) => {
          walk(e.resource, `${where}.entry[${i}]`);
          walk(e.response?.outcome, `${where}.entry[${i}].response.outcome`);
        });
        return;
      }
      const text = JSON.stringify(node);
      if (universe.has(k)) {
        if (!visible(tok, k)) out.push(`${tok.name} ${label}: ${where} is ${k}, outside the oracle`);
        if (text.includes(BOB_MARKER)) out.push(`${tok.name} ${label}: ${where} (${k}) holds Bob's marker (an older version of Bob's?)`);
        if (node.resourceType === 'Observation' && tok.filter && isVital(node) && !isLab(node)) out.push(`${tok.name} ${label}: ${where} is a vital sign ${k}`);
        return;
      }
      const named = secrets.filter((x) => text.includes(x) && !request.includes(x));
      if (named.length) out.push(`${tok.name} ${label}: ${where} (${node.resourceType}) names ${named.slice(0, 3).join(', ')}`);
    };
    walk(body, 'body');
  };

  /** GET with every `next` page; the bodies, the status of the first page. */
  async function pages(tok: Tok, url: string): Promise<{ status: number; bodies: any[] }> {
    const bodies: any[] = [];
    let next: string | undefined = url;
    let status = 0;
    for (let n = 0; next; n++) {
      if (n > 60) throw new Error(`${url}: more than 60 pages`);
      const res: { status: number; body: any; text: string } = await s.http.get(next).set(auth(tok.token));
      if (!n) status = res.status;
      if (res.status >= 500) throw new Error(`${next}: ${res.status} ${res.text.slice(0, 300)}`);
      bodies.push(res.body);
      const link: string | undefined = res.status === 200 ? res.body.link?.find((l: any) => l.relation === 'next')?.url : undefined;
      next = link ? link.replace(s.baseUrl, '/fhir') : undefined;
    }
    return { status, bodies };
  }
  const matchesOf = (bodies: any[]) =>
    bodies.flatMap((b) => (b.entry ?? []).filter((e: any) => e.search?.mode === 'match').map((e: any) => key(e.resource))).sort();
  const includesOf = (bodies: any[]) =>
    [...new Set(bodies.flatMap((b) => (b.entry ?? []).filter((e: any) => e.search?.mode === 'include').map((e: any) => key(e.resource))))].sort();

  /** Runs the requests with one token: leaks (the test fails on them) and statuses. */
  async function sweep(tok: Tok, urls: string[], alsoNamed = '') {
    const leaks: string[] = [];
    const answers = new Map<string, { status: number; bodies: any[] }>();
    for (const url of urls) {
      const a = await pages(tok, url);
      answers.set(url, a);
      a.bodies.forEach((b, i) => judge(tok, `GET ${url} (page ${i + 1}, ${a.status})`, `${decodeURIComponent(url)} ${alsoNamed}`, b, leaks));
    }
    return { leaks, answers };
  }

  const write = async (r: any) => {
    const res = await s.http.put(`/fhir/${r.resourceType}/${r.id}`).set(auth(admin)).set('Content-Type', FHIR_JSON).send(r);
    if (res.status >= 300) throw new Error(`${key(r)}: ${res.status} ${res.text.slice(0, 300)}`);
    return res.body;
  };

  /** A Synthea record rewritten to Patient `to`, stored with one transaction of PUTs. */
  async function loadRecord(file: string, to: 'alice' | 'bob', name: object) {
    const resources = resourcesOf(readBundle(file) as Bundle) as any[];
    const old = resources.find((r) => r.resourceType === 'Patient').id;
    const rewritten: any[] = JSON.parse(JSON.stringify(resources).split(`"Patient/${old}"`).join(`"Patient/${to}"`));
    for (const r of rewritten) {
      if (r.resourceType === 'Patient') Object.assign(r, { id: to, name: [name], identifier: undefined, link: undefined });
      if (to === 'bob') r.meta = { tag: [{ system: 'urn:test', code: BOB_TAG }] };
    }
    const res = await s.http
      .post('/fhir')
      .set(auth(admin))
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Bundle', type: 'transaction', entry: rewritten.map((r) => ({ resource: r, request: { method: 'PUT', url: key(r) } })) });
    if (res.status !== 200) throw new Error(`record of ${to}: ${res.status} ${res.text.slice(0, 400)}`);
    return rewritten;
  }

  beforeAll(async () => {
    s = await startSmartApp();
    admin = await loadFixtures(s);
    const stored: any[] = fixtureResources();
    const [fa, fb] = patientBundleFiles('smart-generated-sample-data', 2);
    const alice = await loadRecord(fa, 'alice', { family: 'Alison', given: ['Alice'] });
    const bob = await loadRecord(fb, 'bob', { family: 'Roberts', given: ['Bob'], text: BOB_MARKER });
    stored.push(...alice, ...bob);
    const enc = (rec: any[]) => rec.find((r) => r.resourceType === 'Encounter');
    const prac = (rec: any[]) => rec.find((r) => r.resourceType === 'Practitioner');
    const extra: any[] = [
      { resourceType: 'Location', id: 'loc-shared', name: 'Main clinic' },
      { resourceType: 'Location', id: 'loc-bob', name: 'Bob-only ward' },
      { resourceType: 'Medication', id: 'med-shared', code: { text: 'aspirin' } },
      { resourceType: 'Medication', id: 'med-bob', code: { text: 'bob-only drug' } },
      { ...enc(alice), location: [{ location: { reference: 'Location/loc-shared' } }] },
      { ...enc(bob), location: [{ location: { reference: 'Location/loc-bob' } }, { location: { reference: 'Location/loc-shared' } }] },
      ...[
        ['mr-a', 'alice', 'med-shared', alice],
        ['mr-b', 'bob', 'med-bob', bob],
        ['mr-b2', 'bob', 'med-shared', bob],
      ].map(([id, p, m, rec]: any) => ({
        resourceType: 'MedicationRequest',
        id,
        status: 'active',
        intent: 'order',
        medicationReference: { reference: `Medication/${m}` },
        subject: { reference: `Patient/${p}` },
        encounter: { reference: key(enc(rec)) },
        requester: { reference: key(prac(rec)) },
        ...(p === 'bob' ? { meta: { tag: [{ system: 'urn:test', code: BOB_TAG }] }, note: [{ text: BOB_MARKER }] } : {}),
      })),
      // a value only Bob has, for _sort: the latest Observation date and the first code text
      {
        resourceType: 'Observation',
        id: 'obs-b-future',
        status: 'final',
        category: [{ coding: [{ system: CATEGORY, code: 'laboratory' }] }],
        code: { coding: [{ system: 'http://loinc.org', code: '99999-9' }], text: 'AAAA bob only' },
        subject: { reference: 'Patient/bob' },
        effectiveDateTime: '2999-01-01',
        valueQuantity: { value: 99999, unit: 'mg' },
        note: [{ text: BOB_MARKER }],
      },
    ];
    const aliceLab = alice.find((r) => r.resourceType === 'Observation' && isLab(r));
    const bobObs = bob.find((r) => r.resourceType === 'Observation');
    extra.push(
      {
        resourceType: 'DiagnosticReport',
        id: 'dr-b-alice',
        status: 'final',
        code: { text: 'bob report citing alice' },
        subject: { reference: 'Patient/bob' },
        result: [{ reference: key(aliceLab) }, { reference: key(bobObs) }],
        conclusion: BOB_MARKER,
      },
      {
        resourceType: 'List',
        id: 'list-b',
        status: 'current',
        mode: 'working',
        subject: { reference: 'Patient/bob' },
        title: BOB_MARKER,
        entry: [{ item: { reference: key(aliceLab) } }, { item: { reference: key(bobObs) } }],
      },
    );
    // Provenance of Bob's naming Alice's result, and one naming only her result (in no compartment: outside patient scopes)
    const prov = (id: string, targets: string[]) => ({ resourceType: 'Provenance', id, recorded: '2020-01-01T00:00:00Z', target: targets.map((reference) => ({ reference })), agent: [{ who: { reference: key(prac(bob)) } }] });
    extra.push(prov('prov-b', ['Patient/bob', key(aliceLab)]), prov('prov-none', [key(aliceLab)]), prov('prov-a', ['Patient/alice', key(aliceLab)]));
    extra.push({ resourceType: 'List', id: 'list-a', status: 'current', mode: 'working', subject: { reference: 'Patient/alice' }, entry: [{ item: { reference: key(aliceLab) } }] });
    for (const r of extra) await write(r);
    stored.push(...extra);
    // histories that cross the records: Alice's first, now Bob's; Bob's first (with the marker), now Alice's
    const moved = (id: string, p: string, note: string) => ({
      resourceType: 'Observation',
      id,
      status: 'final',
      category: [{ coding: [{ system: CATEGORY, code: 'laboratory' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
      subject: { reference: `Patient/${p}` },
      note: [{ text: note }],
    });
    await write(moved('obs-to-bob', 'alice', 'was alice'));
    stored.push(await write(moved('obs-to-bob', 'bob', BOB_MARKER)));
    await write(moved('obs-to-alice', 'bob', BOB_MARKER));
    stored.push(await write(moved('obs-to-alice', 'alice', 'now alice')));
    for (const r of stored) universe.set(key(r), r);
    for (const [k, r] of universe) {
      const ps = compartmentPatients(r, s.baseUrl);
      if (ps.has('alice') || k === 'Patient/alice') inAlice.add(k);
      if (ps.has('bob') || k === 'Patient/bob') inBob.add(k);
    }
    for (const k of bobOnly()) if (k !== 'Patient/bob') secrets.push(k.split('/')[1]);
    secrets.push(BOB_MARKER, 'Roberts', BOB_TAG, 'Patient/bob');

    toks.all = { name: 'patient/*.rs', token: await tokenFor(s, 'alice', 'patient/*.rs') };
    // a patient user's user/ scopes are bounded to her own compartment like patient/ ones (README, Scope policy)
    toks.user = { name: 'user/*.rs (patient user)', token: await tokenFor(s, 'alice', 'user/*.rs') };
    toks.obs = { name: 'patient/Observation.rs', token: await tokenFor(s, 'alice', 'patient/Observation.rs'), types: new Set(['Observation']) };
    toks.lab = {
      name: 'patient/Observation.rs?category=lab',
      token: await tokenFor(s, 'alice', `patient/Observation.rs?category=${LAB_FILTER}`),
      types: new Set(['Observation']),
      filter: isLab,
    };
  }, 120_000);
  afterAll(async () => s?.close());

  const TOKENS = ['all', 'user', 'obs', 'lab'] as const;
  /** one stored resource of Bob's per type (the first by id), deterministic */
  const bobSample = () => {
    const byType = new Map<string, string>();
    for (const k of bobOnly()) if (!byType.has(k.split('/')[0])) byType.set(k.split('/')[0], k);
    return [...byType.values()];
  };
  const storedTypes = () => [...new Set([...universe.keys()].map((k) => k.split('/')[0]))].sort();
  /** a code of Observation.code only Bob's Observations have, and one Alice's have */
  const codeOf = (k: string) => universe.get(k).code.coding[0].code as string;
  const obsCodes = (set: Set<string>, other: Set<string>) => {
    const mine = new Set([...set].filter((k) => k.startsWith('Observation/')).map(codeOf));
    const theirs = new Set([...other].filter((k) => k.startsWith('Observation/')).map(codeOf));
    return [...mine].filter((c) => !theirs.has(c)).sort();
  };

  it('the oracle is not vacuous: both records hold many compartment types, lab and vital-sign Observations, shared resources', () => {
    const typesOf = (set: Set<string>) => new Set([...set].map((k) => k.split('/')[0]));
    expect(typesOf(inAlice).size).toBeGreaterThanOrEqual(8);
    expect(typesOf(inBob).size).toBeGreaterThanOrEqual(8);
    for (const type of typesOf(inAlice)) expect(COMPARTMENT_TYPES).toContain(type);
    const aliceObs = [...inAlice].filter((k) => k.startsWith('Observation/')).map((k) => universe.get(k));
    expect(aliceObs.filter(isLab).length).toBeGreaterThan(2);
    expect(aliceObs.filter(isVital).length).toBeGreaterThan(2);
    expect(bobOnly().length).toBeGreaterThan(50);
    expect(obsCodes(inBob, inAlice).length).toBeGreaterThan(0);
    expect([...universe.keys()].filter((k) => SHARED.has(k.split('/')[0])).length).toBeGreaterThanOrEqual(6);
  });

  // first, before Alice's own requests name Bob's ids (her own events are hers to see in full)
  it('patient/AuditEvent.rs: events about Alice that also concern Bob (a search or batch naming both) show Alice\'s part only', async () => {
    const aliceObs = [...inAlice].find((k) => k.startsWith('Observation/'))!;
    const bobObs = bobOnly().find((k) => k.startsWith('Observation/'))!;
    for (const url of ['/fhir/Observation?subject=Patient/alice,Patient/bob&_count=1', '/fhir/Patient?_id=alice,bob', `/fhir/${aliceObs}`]) {
      expect((await s.http.get(url).set(auth(admin))).status).toBe(200);
    }
    const batch = { resourceType: 'Bundle', type: 'batch', entry: [aliceObs, bobObs, 'Patient/bob', 'Patient/alice'].map((url) => ({ request: { method: 'GET', url } })) };
    expect((await s.http.post('/fhir').set(auth(admin)).set('Content-Type', FHIR_JSON).send(batch)).status).toBe(200);
    const tok: Tok = { name: 'patient/AuditEvent.rs', token: await tokenFor(s, 'alice', 'patient/AuditEvent.rs'), types: new Set(['AuditEvent']) };
    // (obs-to-bob was Alice's when it was created: the event of that version is hers)
    const { leaks, answers } = await sweep(tok, ['/fhir/AuditEvent?_count=50', `/fhir/AuditEvent?entity=${aliceObs}`, '/fhir/AuditEvent?patient=Patient/alice&_count=50'], 'Observation/obs-to-bob/_history/1');
    expect(matchesOf(answers.get(`/fhir/AuditEvent?entity=${aliceObs}`)!.bodies).length).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  });

  it.each(TOKENS)('reads by id of Bob\'s resources (one per type), and vread/_history/$meta of them: 404 where the token has the type, 403 where it has not (%s)', async (t) => {
    const tok = toks[t];
    const leaks: string[] = [];
    const wrong: string[] = [];
    for (const k of [...bobSample(), 'Observation/obs-to-bob', 'Location/loc-bob', 'Binary/bin-b', 'Bundle/stored-doc']) {
      const [type] = k.split('/');
      // README: 404 like a missing resource where a rule has the type (Binary: always the same 404), else 403
      const expected = type === 'Binary' || (grants(tok, type) && (COMPARTMENT_TYPES.includes(type) || SHARED.has(type))) ? 404 : 403;
      for (const url of [`/fhir/${k}`, `/fhir/${k}/_history/1`, `/fhir/${k}/_history`, `/fhir/${k}/$meta`]) {
        const res = await s.http.get(url).set(auth(tok.token));
        judge(tok, `GET ${url}`, url, res.body, leaks);
        // a shared type visible: its read answers, its history too; else the status of an invisible resource
        if (!visible(tok, k) && res.status !== expected) wrong.push(`${url}: ${res.status}, expected ${expected}`);
      }
    }
    // vread of the older versions: obs-to-alice v1 was Bob's (marker), obs-to-bob v1 Alice's
    for (const url of ['/fhir/Observation/obs-to-alice/_history/1', '/fhir/Observation/obs-to-alice/_history', '/fhir/Observation/obs-to-alice/_history/1/$meta']) {
      const res = await s.http.get(url).set(auth(tok.token));
      judge(tok, `GET ${url}`, url, res.body, leaks);
      if (url.endsWith('/1') && res.status === 200) leaks.push(`${tok.name} GET ${url}: 200 (Bob's version)`);
    }
    expect(leaks).toEqual([]);
    expect(wrong).toEqual([]);
  });

  it.each(TOKENS)('conditional reads (If-None-Match, If-Modified-Since) and HEAD of Bob\'s resources answer as for a missing id (%s)', async (t) => {
    const tok = toks[t];
    const differ: string[] = [];
    for (const k of bobSample().filter((x) => COMPARTMENT_TYPES.includes(x.split('/')[0])).slice(0, 6)) {
      const [type, id] = k.split('/');
      for (const [h, v] of [['If-None-Match', 'W/"1"'], ['If-None-Match', '*'], ['If-Modified-Since', 'Thu, 01 Jan 1970 00:00:00 GMT'], ['If-Modified-Since', 'Fri, 01 Jan 2100 00:00:00 GMT'], ['', '']]) {
        const go = async (x: string, head = false) => {
          const r = (head ? s.http.head(`/fhir/${type}/${x}`) : s.http.get(`/fhir/${type}/${x}`)).set(auth(tok.token));
          const res = h ? await r.set(h, v) : await r;
          return `${res.status} ${JSON.stringify(res.body ?? '').split(x).join('<id>')}`;
        };
        for (const head of [false, true]) {
          const [a, b] = [await go(id, head), await go(`${id.slice(0, 8)}-missing`, head)];
          if (a !== b) differ.push(`${head ? 'HEAD' : 'GET'} ${k} ${h}: ${v}: ${a.slice(0, 120)} <> ${b.slice(0, 120)}`);
        }
      }
    }
    expect(differ).toEqual([]);
  });

  it.each(TOKENS)('search of every stored type (every page) is exactly the oracle set of the type, or 403 without a rule for it (%s)', async (t) => {
    const tok = toks[t];
    const urls = storedTypes().map((type) => `/fhir/${type}?_count=20`);
    const { leaks, answers } = await sweep(tok, urls);
    const wrong: string[] = [];
    for (const type of storedTypes()) {
      const a = answers.get(`/fhir/${type}?_count=20`)!;
      if (!grants(tok, type)) {
        if (a.status !== 403) wrong.push(`${type}: ${a.status}, expected 403`);
        continue;
      }
      const expected = visibleOf(tok, type);
      const actual = matchesOf(a.bodies);
      const missing = expected.filter((x) => !actual.includes(x));
      if ((COMPARTMENT_TYPES.includes(type) || SHARED.has(type)) && a.status !== 200) wrong.push(`${type}: ${a.status}, expected 200`);
      if (missing.length) wrong.push(`${type}: missing ${missing.slice(0, 3).join(', ')} (${missing.length})`);
    }
    expect(leaks).toEqual([]);
    expect(wrong).toEqual([]);
  }, 60_000);

  const includeUrls = () => [
    '/fhir/Observation?_include=*&_count=30',
    '/fhir/Observation?_include=Observation:subject&_include=Observation:encounter&_include:iterate=Encounter:location&_include:iterate=Encounter:service-provider',
    '/fhir/DiagnosticReport?_include=DiagnosticReport:result&_include:iterate=Observation:subject',
    '/fhir/DiagnosticReport?_include=*&_include:iterate=*',
    '/fhir/Encounter?_include=*&_revinclude=*',
    '/fhir/Encounter?_revinclude=Observation:encounter&_revinclude:iterate=DiagnosticReport:result&_count=2',
    '/fhir/Patient?_revinclude=*',
    '/fhir/Patient?_revinclude=Observation:subject&_revinclude=Condition:subject&_revinclude=MedicationRequest:subject',
    '/fhir/Practitioner?_revinclude=Encounter:participant&_revinclude=MedicationRequest:requester&_revinclude=Observation:performer',
    '/fhir/Practitioner?_revinclude:iterate=*',
    '/fhir/Organization?_revinclude=*&_revinclude:iterate=Encounter:subject',
    '/fhir/Location?_revinclude=Encounter:location&_revinclude:iterate=Observation:encounter',
    '/fhir/Medication?_revinclude=MedicationRequest:medication&_include:iterate=MedicationRequest:subject',
    '/fhir/MedicationRequest?_include=*&_include:iterate=Encounter:location',
    '/fhir/Claim?_include=*&_include:iterate=*',
    '/fhir/ExplanationOfBenefit?_include=*&_revinclude=*',
    '/fhir/Observation?_revinclude=DiagnosticReport:result&_include=Observation:performer',
    '/fhir/Observation?_revinclude=DiagnosticReport:result&_revinclude=List:item&_revinclude:iterate=DiagnosticReport:subject&_summary=true',
    '/fhir/Observation?category=laboratory&_revinclude=*&_revinclude:iterate=*',
    '/fhir/Patient/alice/Observation?_revinclude=DiagnosticReport:result&_revinclude=List:item',
    '/fhir/Patient?_revinclude:iterate=Observation:subject&_revinclude:iterate=DiagnosticReport:result&_revinclude:iterate=List:item',
    // contained resources (Synthea's Claims contain a ServiceRequest and a Coverage): seen through their container only
    '/fhir/ServiceRequest?_contained=true',
    '/fhir/Coverage?_contained=both&_containedType=container',
    '/fhir/Claim?_contained=both&_containedType=contained&_include=*',
    '/fhir/Observation?_revinclude=Provenance:target&_count=100',
    '/fhir/Provenance?_include=*&_include:iterate=*',
    '/fhir/Patient/alice/$everything?_type=Provenance,List,Observation&_count=100',
  ];

  it.each(TOKENS)('_include / _revinclude (named, *, :iterate): every match and include within the oracle (%s)', async (t) => {
    const tok = toks[t];
    const { leaks, answers } = await sweep(tok, includeUrls());
    // Alice's own includes do arrive (the check above is not vacuous)
    if (t === 'all' || t === 'user') {
      expect(includesOf(answers.get('/fhir/Observation?_revinclude=Provenance:target&_count=100')!.bodies)).toEqual(['Provenance/prov-a']);
      expect(matchesOf(answers.get('/fhir/ServiceRequest?_contained=true')!.bodies).length).toBeGreaterThan(0);
      expect(includesOf(answers.get('/fhir/Medication?_revinclude=MedicationRequest:medication&_include:iterate=MedicationRequest:subject')!.bodies)).toEqual(
        ['MedicationRequest/mr-a', 'Patient/alice'],
      );
    }
    expect(leaks).toEqual([]);
  }, 60_000);

  it.each(TOKENS)('chains, _has, _id, _text/_content, code and _sort by values only Bob has: no match of his, no order that reveals one (%s)', async (t) => {
    const tok = toks[t];
    const bobCode = obsCodes(inBob, inAlice)[0];
    const aliceCode = obsCodes(inAlice, inBob)[0] ?? codeOf([...inAlice].find((k) => k.startsWith('Observation/') && universe.get(k).code?.coding)!);
    const bobObs = bobOnly().filter((k) => k.startsWith('Observation/')).map((k) => k.split('/')[1]);
    const bobEnc = bobOnly().find((k) => k.startsWith('Encounter/'))!;
    const empty = [
      '/fhir/Observation?subject:Patient.name=Roberts',
      '/fhir/Observation?subject.family=Roberts',
      '/fhir/Observation?patient.name=Roberts&_include=Observation:subject',
      '/fhir/Encounter?patient:Patient.family=Roberts',
      '/fhir/MedicationRequest?medication.code:text=bob-only',
      '/fhir/Observation?encounter.location=Location/loc-bob',
      `/fhir/Observation?encounter=${bobEnc}`,
      '/fhir/Observation?subject=Patient/bob',
      '/fhir/Observation?patient=bob&_total=accurate',
      `/fhir/Observation?_id=${bobObs.slice(0, 5).join(',')}`,
      `/fhir/Observation?code=http://loinc.org|${bobCode}&_total=accurate`,
      `/fhir/Patient?_has:Observation:patient:code=${bobCode}`,
      `/fhir/Patient?_has:Observation:subject:_id=${bobObs[0]}`,
      '/fhir/Patient?_has:MedicationRequest:subject:medication=Medication/med-bob',
      `/fhir/Observation?_text=${BOB_MARKER}`,
      `/fhir/Observation?_content=${BOB_MARKER}`,
      `/fhir/Observation?_tag=urn:test|${BOB_TAG}`,
      '/fhir/Observation?value-quantity=99999',
      '/fhir/Observation?date=2999-01-01',
      '/fhir/Observation?_list=list-b',
      '/fhir/Observation?_has:DiagnosticReport:result:_id=dr-b-alice',
      '/fhir/Observation?_has:DiagnosticReport:result:subject=Patient/bob',
      '/fhir/Observation?_has:DiagnosticReport:result:patient.name=Roberts',
      '/fhir/Observation?_has:List:item:_id=list-b',
      '/fhir/Observation?_filter=' + encodeURIComponent('_list eq list-b'),
      '/fhir/Observation?_filter=' + encodeURIComponent('subject.name co "Roberts"'),
      '/fhir/Observation?_filter=' + encodeURIComponent('not (subject eq Patient/alice) or code eq 99999-9'),
      '/fhir/Patient/alice/Observation?_list=List/list-b',
      '/fhir?_type=Observation,Condition&_list=list-b',
      '/fhir/Observation?_list=list-b,list-a&_list=list-b',
      '/fhir/Observation?_filter=' + encodeURIComponent('subject eq Patient/bob'),
      '/fhir/Patient?_has:Observation:subject:_has:DiagnosticReport:result:_id=dr-b-alice',
    ];
    const { leaks, answers } = await sweep(tok, [
      ...empty,
      `/fhir/Patient?_has:Observation:patient:code=${aliceCode}`,
      '/fhir/Observation?_list=list-a',
      '/fhir/Observation?_sort=-date&_count=5',
      '/fhir/Observation?_sort=code&_count=5',
      '/fhir/Observation?_sort=-value-quantity&_count=5',
      '/fhir/Location?_sort=name',
      '/fhir/Medication?_sort=code',
    ]);
    const wrong: string[] = [];
    for (const url of empty) {
      const a = answers.get(url)!;
      const m = matchesOf(a.bodies);
      if (m.length) wrong.push(`${url}: matches ${m.slice(0, 3).join(', ')}`);
      if (a.status === 200 && (a.bodies[0].total ?? 0) !== 0) wrong.push(`${url}: total ${a.bodies[0].total}`);
    }
    if (!tok.types) {
      expect(matchesOf(answers.get(`/fhir/Patient?_has:Observation:patient:code=${aliceCode}`)!.bodies)).toEqual(['Patient/alice']);
      // her own List does select (a List is read under the token's restriction, not ignored)
      expect(matchesOf(answers.get('/fhir/Observation?_list=list-a')!.bodies)).toEqual(universe.get('List/list-a').entry.map((e: any) => e.item.reference));
    }
    // the first page of a sort by date, descending, is that of the visible Observations (Bob's 2999 is not first, nor a gap)
    const date = (k: string) => {
      const r = universe.get(k);
      return (r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued ?? '') as string;
    };
    const byDate = visibleOf(tok, 'Observation').map(date).sort().reverse().slice(0, 5).map((d) => d.slice(0, 10));
    const page = (answers.get('/fhir/Observation?_sort=-date&_count=5')!.bodies[0].entry ?? []).map((e: any) => date(key(e.resource)).slice(0, 10));
    expect(page).toEqual(byDate);
    expect(leaks).toEqual([]);
    expect(wrong).toEqual([]);
  }, 60_000);

  it.each(TOKENS)('_total=accurate, _total=estimate, _summary=count and _elements count and show the visible set only (%s)', async (t) => {
    const tok = toks[t];
    const types = storedTypes().filter((type) => grants(tok, type) && (COMPARTMENT_TYPES.includes(type) || SHARED.has(type)));
    // (`estimate` under a bounded token is the count: the planner's statistics cover every patient's data)
    const counted = (type: string) => [`/fhir/${type}?_total=accurate&_count=3`, `/fhir/${type}?_total=estimate&_count=3`, `/fhir/${type}?_summary=count`];
    const urls = types.flatMap(counted);
    urls.push('/fhir/Observation?_elements=subject,category&_count=50', '/fhir/Encounter?_elements=location&_count=50');
    const { leaks, answers } = await sweep(tok, urls);
    const wrong: string[] = [];
    for (const type of types) {
      const n = visibleOf(tok, type).length;
      for (const url of counted(type)) {
        const total = answers.get(url)!.bodies[0].total;
        if (total !== n) wrong.push(`${url}: total ${total}, visible ${n}`);
      }
    }
    expect(leaks).toEqual([]);
    expect(wrong).toEqual([]);
  }, 60_000);

  it.each(TOKENS)('_total=estimate of a search only Bob\'s resources match is that of a search nothing matches (no statistics side channel) (%s)', async (t) => {
    const tok = toks[t];
    const bobCode = obsCodes(inBob, inAlice)[0];
    const totals: Record<string, unknown[]> = {};
    for (const [name, q] of [
      ['bob', `code=http://loinc.org|${bobCode}`],
      ['none', 'code=http://loinc.org|00000-0'],
      ['bob-subject', 'subject=Patient/bob'],
      ['none-subject', 'subject=Patient/nobody-at-all'],
    ]) {
      totals[name] = [];
      for (const count of [0, 1, 5]) {
        const url = `/fhir/Observation?${q}&_total=estimate&_count=${count}`;
        const res = await s.http.get(url).set(auth(tok.token));
        const leaks: string[] = [];
        judge(tok, `GET ${url}`, url, res.body, leaks);
        expect(leaks).toEqual([]);
        totals[name].push(`${res.status} ${res.body.total}`);
      }
    }
    expect([totals.bob, totals['bob-subject']]).toEqual([totals.none, totals['none-subject']]);
  });

  it.each(TOKENS)('compartment searches Patient/bob/*, Patient/alice/*, $everything of each, $lastn, system search ?_type= (%s)', async (t) => {
    const tok = toks[t];
    const { leaks, answers } = await sweep(tok, [
      '/fhir/Patient/bob/*?_count=50',
      '/fhir/Patient/bob/Observation',
      '/fhir/Patient/bob/Encounter?_include=Encounter:location',
      '/fhir/Patient/bob/MedicationRequest?_include=MedicationRequest:medication',
      '/fhir/Patient/alice/*?_count=50',
      '/fhir/Patient/alice/Observation?_count=50&_revinclude=DiagnosticReport:result',
      '/fhir/Patient/alice/$everything?_count=40',
      '/fhir/Patient/bob/$everything?_count=40',
      '/fhir/Patient/$everything',
      '/fhir/Observation/$lastn?patient=bob',
      '/fhir/Observation/$lastn?patient=alice&max=2',
      '/fhir?_type=Observation,Encounter,Condition,Patient,Practitioner,MedicationRequest,Claim,Location,Medication&_count=50',
      '/fhir?_type=Observation&_count=50&_total=accurate',
      `/fhir?_type=Observation,Condition&_content=${BOB_MARKER}`,
      '/fhir?_type=Observation,MedicationRequest&subject=Patient/bob',
    ]);
    const wrong: string[] = [];
    for (const url of ['/fhir/Patient/bob/*?_count=50', '/fhir/Patient/bob/Observation', '/fhir/Patient/bob/$everything?_count=40']) {
      const m = matchesOf(answers.get(url)!.bodies);
      if (m.length) wrong.push(`${url}: ${m.slice(0, 3).join(', ')}`);
    }
    const everything = answers.get('/fhir/Patient/alice/$everything?_count=40')!;
    if (everything.status === 200) {
      const expected = [...inAlice].filter((k) => visible(tok, k)).sort();
      const got = matchesOf(everything.bodies);
      const missing = expected.filter((k) => !got.includes(k));
      if (missing.length) wrong.push(`$everything misses ${missing.slice(0, 3).join(', ')} (${missing.length})`);
    }
    const typed = answers.get('/fhir?_type=Observation&_count=50&_total=accurate')!;
    if (typed.status === 200 && typed.bodies[0].total !== visibleOf(tok, 'Observation').length) wrong.push(`?_type=Observation total ${typed.bodies[0].total}`);
    expect(leaks).toEqual([]);
    expect(wrong).toEqual([]);
  }, 60_000);

  it.each(TOKENS)('type and system _history, type $meta: refused for patient-bounded tokens (403), never a leak (%s)', async (t) => {
    const tok = toks[t];
    const { leaks, answers } = await sweep(tok, ['/fhir/Observation/_history', '/fhir/_history', '/fhir/Observation/$meta', '/fhir/$meta', '/fhir/Patient/_history']);
    expect(['/fhir/Observation/_history', '/fhir/_history', '/fhir/Observation/$meta'].map((u) => [u, answers.get(u)!.status])).toEqual(
      ['/fhir/Observation/_history', '/fhir/_history', '/fhir/Observation/$meta'].map((u) => [u, 403]),
    );
    expect(leaks).toEqual([]);
  });

  it.each(TOKENS)('batch of GET entries for Bob\'s resources, searches and operations: every entry within the oracle (%s)', async (t) => {
    const tok = toks[t];
    const sample = bobSample();
    const urls = [
      ...sample,
      ...sample.slice(0, 4).map((k) => `${k}/_history/1`),
      'Observation/obs-to-alice/_history/1',
      'Observation?subject=Patient/bob',
      'Observation?_include=*&_count=100',
      'Patient/bob/*',
      'Patient/bob/$everything',
      'Patient?_has:Observation:patient:code=' + obsCodes(inBob, inAlice)[0],
      'Encounter?_revinclude=*',
      `Observation?code=http://loinc.org|${obsCodes(inBob, inAlice)[0]}&_total=accurate`,
    ];
    const leaks: string[] = [];
    for (const type of ['batch', 'transaction']) {
      const body = { resourceType: 'Bundle', type, entry: urls.map((url) => ({ request: { method: 'GET', url } })) };
      const res = await s.http.post('/fhir').set(auth(tok.token)).set('Content-Type', FHIR_JSON).send(body);
      expect(res.status).toBeLessThan(500);
      judge(tok, `${type} of GETs`, JSON.stringify(body), res.body, leaks);
    }
    const res = await s.http.post('/fhir/Observation/_search').set(auth(tok.token)).type('form').send({ subject: 'Patient/bob', _include: '*' });
    judge(tok, 'POST Observation/_search', 'subject=Patient/bob', res.body, leaks);
    expect(leaks).toEqual([]);
  });

  it.each(TOKENS)('$validate (type and instance level, every mode) of Bob\'s resource answers as for an id that does not exist: no content, no existence oracle (%s)', async (t) => {
    const tok = toks[t];
    const leaks: string[] = [];
    const differ: string[] = [];
    const bobObs = bobOnly().find((k) => k.startsWith('Observation/'))!.split('/')[1];
    const answer = async (id: string, mode?: string, instance = true) => {
      const body = { resourceType: 'Observation', id, status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/alice' }, hasMember: [{ reference: `Observation/${id}` }] };
      const url = `/fhir/Observation${instance ? `/${id}` : ''}/$validate${mode ? `?mode=${mode}` : ''}`;
      const res = await s.http.post(url).set(auth(tok.token)).set('Content-Type', FHIR_JSON).send(body);
      judge(tok, `POST ${url}`, url, res.body, leaks);
      // the answer with the id masked: Bob's id and a missing id must not be told apart
      return `${res.status} ${JSON.stringify(res.body).split(id).join('<id>')}`;
    };
    for (const [mode, instance] of [[undefined, false], [undefined, true], ['create', false], ['update', true], ['delete', true]] as const) {
      const [a, b] = [await answer(bobObs, mode, instance), await answer('no-such-obs-1', mode, instance)];
      if (a !== b) differ.push(`mode=${mode} instance=${instance}: ${a.slice(0, 200)} <> ${b.slice(0, 200)}`);
    }
    expect(leaks).toEqual([]);
    expect(differ).toEqual([]);
  });

  it('the granular lab token: no vital sign anywhere, and Alice\'s lab results all there', async () => {
    const tok = toks.lab;
    const { leaks, answers } = await sweep(tok, [
      '/fhir/Observation?_count=100',
      `/fhir/Observation?category=${CATEGORY}|vital-signs`,
      '/fhir/Observation?_revinclude=DiagnosticReport:result',
      '/fhir/Patient/alice/Observation?_count=100',
      '/fhir/Patient/alice/$everything?_count=100',
    ]);
    expect(matchesOf(answers.get(`/fhir/Observation?category=${CATEGORY}|vital-signs`)!.bodies)).toEqual([]);
    expect(matchesOf(answers.get('/fhir/Observation?_count=100')!.bodies)).toEqual(visibleOf(tok, 'Observation'));
    expect(visibleOf(tok, 'Observation').length).toBeGreaterThan(2);
    expect(leaks).toEqual([]);
  });
});

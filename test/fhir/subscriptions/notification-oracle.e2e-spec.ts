import { randomBytes } from 'crypto';
import * as fs from 'fs';
import { isDeepStrictEqual } from 'util';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { PAYLOAD_CONTENT_URL } from '../../../src/fhir/subscriptions/subscription-model';
import { criteriaMatch, EXAMPLES, readExamples } from './notification-oracle';
import { Receiver } from './receiver';

/**
 * Oracle check of R4 rest-hook Subscriptions on real data: ~11 active Subscriptions with token
 * criteria over Observation, Condition, Patient, Encounter and MedicationRequest; ~90 R4 spec examples
 * of those types written with PUT under a per-run id prefix, then updates that make resources start
 * or stop matching, deletes and a re-creation. Which versions each Subscription must hear of is
 * computed by the test (notification-oracle.ts: the R4 SearchParameter expressions evaluated with the
 * `fhirpath` package, search.html#token), never by the server's search, and encodes R4
 * subscription.html: "the search criteria are applied to the new value of the resource. The
 * consequence of this is that there is no notification when a resource is deleted, or when a
 * resource is updated so that it no longer meets the criteria."
 *
 * The writes come in phases, each resource written at most once per phase, and a phase starts once
 * the previous one's notifications have arrived (README: matching every 200 ms, delivery right
 * after): each version is matched on its own.
 */
const present = fs.existsSync(EXAMPLES);
if (!present) console.warn(`skipping the Subscription notification oracle: the R4 examples are absent (${EXAMPLES})`);

const RUN = `so${randomBytes(3).toString('hex')}`;
const TAG = `urn:oracle:${RUN}`;
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const TYPES = ['Observation', 'Condition', 'Patient', 'Encounter', 'MedicationRequest'];

type Content = 'full-resource' | 'id-only' | 'empty';
interface Sub {
  name: string;
  criteria: string;
  content: Content;
}

const SUBS: Sub[] = [
  { name: 'obs-final', criteria: 'Observation?status=final', content: 'full-resource' },
  { name: 'obs-code', criteria: 'Observation?code=http://loinc.org|8310-5,http://loinc.org|8867-4', content: 'full-resource' },
  { name: 'obs-vitals', criteria: 'Observation?category=vital-signs', content: 'full-resource' },
  { name: 'obs-tag', criteria: `Observation?_tag=${TAG}|watch`, content: 'full-resource' },
  { name: 'cond-active', criteria: 'Condition?clinical-status=active', content: 'full-resource' },
  { name: 'pat-female', criteria: 'Patient?gender=female', content: 'full-resource' },
  { name: 'pat-active', criteria: 'Patient?active=true', content: 'id-only' },
  { name: 'enc-amb', criteria: `Encounter?class=${ACT}|AMB`, content: 'full-resource' },
  { name: 'mr-order', criteria: 'MedicationRequest?intent=order', content: 'empty' },
  { name: 'mr-order-active', criteria: 'MedicationRequest?intent=order&status=active', content: 'full-resource' },
  { name: 'none', criteria: `Encounter?class=${TAG}|none`, content: 'full-resource' },
];

/** One write the test made: a version (with the content sent) or a delete. */
interface Write {
  type: string;
  id: string;
  versionId?: number;
  sent?: Record<string, any>;
  deleted?: boolean;
  /** an update of a version the test wrote before (not a create, nor a create after a delete) */
  update: boolean;
  /** the Subscriptions (names) the previous version of the same resource matched */
  matchedBefore: Set<string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const key = (type: string, id: string, v: unknown) => `${type}/${id}/_history/${v}`;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));

(present ? describe : describe.skip)('R4 rest-hook Subscriptions notify exactly the writes their criteria match (subscription.html), oracle over R4 examples', () => {
  let t: TestApp;
  const receiver = new Receiver();
  const statuses = new Map<string, string>();
  const writes: Write[] = [];
  const raceWrites: Write[] = [];
  /** the last content sent per `type/id` (undefined once deleted) */
  const last = new Map<string, Record<string, any> | undefined>();
  let started = 0;

  const pathOf = (s: Sub) => `/${s.name}`;
  const versions = () => writes.filter((w) => !w.deleted);
  /** the oracle: the distinct versions that match `s`, as `type/id/_history/n` */
  const expected = (s: Sub) => [...new Set(versions().filter((w) => criteriaMatch(s.criteria, w.sent)).map((w) => key(w.type, w.id, w.versionId)))].sort();

  async function put(type: string, exampleId: string, edit?: (r: Record<string, any>) => void, from = exampleId, into = writes): Promise<void> {
    const id = `${RUN}-${exampleId}`;
    const before = last.get(`${type}/${id}`);
    const body = clone(before ?? readOne(type, from));
    body.id = id;
    edit?.(body);
    const res = await t.http.put(`/fhir/${type}/${id}`).set('Content-Type', FHIR_JSON).send(body);
    if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${type}/${id}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
    const versionId = Number(res.body.meta?.versionId);
    const prev = [...into].reverse().find((w) => w.type === type && w.id === id);
    last.set(`${type}/${id}`, body);
    // an update that changes nothing may keep the version (then there is no new version to notify)
    if (prev && !prev.deleted && prev.versionId === versionId) return;
    const matchedBefore = new Set(prev && !prev.deleted ? SUBS.filter((s) => criteriaMatch(s.criteria, prev.sent)).map((s) => s.name) : []);
    into.push({ type, id, versionId, sent: body, update: !!prev && !prev.deleted, matchedBefore });
  }

  async function del(type: string, exampleId: string): Promise<void> {
    const id = `${RUN}-${exampleId}`;
    const res = await t.http.delete(`/fhir/${type}/${id}`);
    if (res.status !== 200 && res.status !== 204) throw new Error(`DELETE ${type}/${id}: HTTP ${res.status}`);
    const prev = last.get(`${type}/${id}`);
    last.set(`${type}/${id}`, undefined);
    writes.push({ type, id, deleted: true, update: false, matchedBefore: new Set(SUBS.filter((s) => prev && criteriaMatch(s.criteria, prev)).map((s) => s.name)) });
  }

  const examples = present ? readExamples(TYPES) : [];
  const readOne = (type: string, id: string) => {
    const e = examples.find((x) => x.resource.resourceType === type && x.resource.id === id);
    if (!e) throw new Error(`no R4 example ${type}/${id}`);
    return e.resource;
  };

  /** Waits (bounded) until every Subscription has at least the oracle's count of requests, then a quiet while for extras. */
  async function settle(): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && SUBS.some((s) => receiver.at(pathOf(s)).length < expected(s).length)) await sleep(100);
    await sleep(1500); // > several matcher rounds (200 ms) and a delivery: what should not come has had its chance
  }

  beforeAll(async () => {
    started = Date.now();
    t = await startTestApp();
    const endpoint = await receiver.start();
    const ids = await Promise.all(
      SUBS.map(async (s) => {
        const r = await t.http
          .post('/fhir/Subscription')
          .set('Content-Type', FHIR_JSON)
          .send({
            resourceType: 'Subscription',
            status: 'requested',
            reason: `oracle ${s.name}`,
            criteria: s.criteria,
            channel: {
              type: 'rest-hook',
              endpoint: `${endpoint}${pathOf(s)}`,
              header: [`Authorization: Bearer oracle-${s.name}`, `X-Oracle-Subscription: ${s.name}`],
              ...(s.content === 'empty' ? {} : { payload: 'application/fhir+json' }),
              ...(s.content === 'id-only' ? { _payload: { extension: [{ url: PAYLOAD_CONTENT_URL, valueCode: 'id-only' }] } } : {}),
            },
          });
        if (r.status !== 201) throw new Error(`POST Subscription ${s.name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
        return r.body.id as string;
      }),
    );
    const deadline = Date.now() + 15_000;
    for (;;) {
      for (const [i, id] of ids.entries()) statuses.set(SUBS[i].name, (await t.http.get(`/fhir/Subscription/${id}`)).body.status);
      if ([...statuses.values()].every((s) => s !== 'requested') || Date.now() > deadline) break;
      await sleep(200);
    }

    // phase 1: a deterministic subset of the R4 examples (by file name), created with PUT
    const force = new Set(['Observation/heart-rate', 'Observation/vp-oyster', 'Observation/body-temperature', 'Observation/blood-pressure-cancel', 'Observation/bmi', 'MedicationRequest/medrx0302']);
    const nth = new Map<string, number>();
    const subset = examples.filter(({ resource: r }) => {
      const i = nth.get(r.resourceType) ?? 0;
      nth.set(r.resourceType, i + 1);
      const every = r.resourceType === 'Observation' ? 2 : r.resourceType === 'MedicationRequest' ? 4 : 1;
      return force.has(`${r.resourceType}/${r.id}`) || i % every === 0;
    });
    for (let i = 0; i < subset.length; i += 8) await Promise.all(subset.slice(i, i + 8).map(({ resource: r }) => put(r.resourceType, r.id)));
    await settle();

    // phase 2: updates that make resources stop or start matching, an update that changes nothing, a delete
    await Promise.all([
      put('Observation', 'heart-rate', (r) => (r.status = 'amended')), // stops: status=final; still: code, vital-signs
      put('Observation', 'vp-oyster', (r) => (r.status = 'final')), // starts: status=final
      put('Observation', 'body-temperature', (r) => (r.meta = { tag: [{ system: TAG, code: 'watch' }] })), // starts: _tag
      put('Observation', 'blood-pressure-cancel', (r) => Object.assign(r, { status: 'final', meta: { tag: [{ system: TAG, code: 'watch' }] } })),
      put('Patient', 'mom', (r) => (r.gender = 'male')), // stops: gender=female
      put('Patient', 'pat1', (r) => (r.gender = 'female')), // starts: gender=female
      put('Patient', 'example', (r) => (r.active = false)), // stops: active=true
      put('Patient', 'animal'), // the same content again
      put('Condition', 'example', (r) => (r.clinicalStatus = { coding: [{ system: CLINICAL, code: 'resolved' }] })),
      put('Condition', 'f201', (r) => {
        delete r.abatementString;
        r.clinicalStatus = { coding: [{ system: CLINICAL, code: 'active' }] };
      }),
      put('Encounter', 'f001', (r) => (r.class = { system: ACT, code: 'IMP', display: 'inpatient encounter' })),
      put('Encounter', 'home', (r) => (r.class = { system: ACT, code: 'AMB', display: 'ambulatory' })),
      put('MedicationRequest', 'medrx0302', (r) => (r.status = 'completed')), // stops: intent&status; still: intent
      del('Observation', 'bmi'), // matched status=final and vital-signs: no notification
    ]);
    await settle();

    // phase 3: re-created after its delete, back to matching, deletes of matching and no longer matching resources
    await Promise.all([
      put('Observation', 'bmi', (r) => Object.assign(r, readOne('Observation', 'bmi'), { id: r.id })),
      put('Observation', 'heart-rate', (r) => (r.status = 'final')),
      del('Condition', 'stroke'),
      del('Patient', 'pat1'),
      del('Encounter', 'f001'),
    ]);
    await settle();

    // phase 4 (apart from the oracle above): for 1.5 s, 4 writers each make a resource's two versions in quick
    // succession (closer than a matching round, so a round's search may meet the next version already)
    const until = Date.now() + 1500;
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        const edit = (status: string) => (r: Record<string, any>) => (r.status = status);
        for (let i = 0; Date.now() < until; i++) {
          await put('Observation', `race-a${w}-${i}`, edit('final'), 'heart-rate', raceWrites); // matches obs-final, obs-code, obs-vitals
          await put('Observation', `race-a${w}-${i}`, edit('amended'), 'heart-rate', raceWrites); // obs-code, obs-vitals only
          await put('Observation', `race-b${w}-${i}`, edit('preliminary'), 'heart-rate', raceWrites); // not obs-final
          await put('Observation', `race-b${w}-${i}`, edit('final'), 'heart-rate', raceWrites); // obs-final too
        }
      }),
    );
    await sleep(2500);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await receiver.stop();
    const per = SUBS.map((s) => `${s.name} ${expected(s).length}`).join(', ');
    console.log(`notification oracle: ${writes.length} writes, ${receiver.requests.length} notifications (${per}), ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  /** What one Subscription's endpoint received: a key per request (`type/id/_history/n`; `<no body>` / `<id> (id-only)`). */
  function received(s: Sub, race = false): string[] {
    return receiver.at(pathOf(s)).filter((r) => r.body.includes(`${RUN}-race-`) === race).map((r) => {
      if (!r.body) return '<no body>';
      const b = JSON.parse(r.body);
      if (s.content === 'id-only') return `${b.entry?.[0]?.request?.url} (id-only)`;
      return key(b.resourceType, b.id, b.meta?.versionId);
    });
  }

  it('the oracle is not trivial: every Subscription but one expects notifications, and the updates make resources stop and start matching', () => {
    for (const s of SUBS) expect([s.name, expected(s).length > 0]).toEqual([s.name, s.name !== 'none']);
    const stops = writes.filter((w) => !w.deleted && [...w.matchedBefore].some((n) => !criteriaMatch(SUBS.find((s) => s.name === n)!.criteria, w.sent)));
    const starts = writes.filter((w) => w.update && SUBS.some((s) => !w.matchedBefore.has(s.name) && criteriaMatch(s.criteria, w.sent)));
    expect(stops.length).toBeGreaterThanOrEqual(5);
    expect(starts.length).toBeGreaterThanOrEqual(5);
    expect(versions().length).toBeGreaterThanOrEqual(80);
  });

  it('subscription.html#2.46.6: each requested Subscription whose criteria the server can run becomes active', () => {
    expect(Object.fromEntries(statuses)).toEqual(Object.fromEntries(SUBS.map((s) => [s.name, 'active'])));
  });

  it('subscription.html (criteria applied to the new value of the resource): per Subscription, the versions notified are exactly the oracle\'s, each once', () => {
    const diff: Record<string, { missing: string[]; unexpected: string[]; duplicates: string[] }> = {};
    for (const s of SUBS.filter((x) => x.content === 'full-resource')) {
      const got = received(s);
      const want = expected(s);
      const missing = want.filter((k) => !got.includes(k));
      const unexpected = [...new Set(got.filter((k) => !want.includes(k)))];
      const duplicates = [...new Set(got.filter((k, i) => got.indexOf(k) !== i))];
      if (missing.length || unexpected.length || duplicates.length) diff[s.name] = { missing, unexpected, duplicates };
    }
    expect(diff).toEqual({});
  });

  it('subscription.html#2.46.7.1 rest-hook payload: id-only carries the ids of the oracle\'s versions; no payload means as many empty POSTs', () => {
    const idOnly = SUBS.find((s) => s.content === 'id-only')!;
    const ids = (s: Sub) => expected(s).map((k) => `${k.slice(0, k.indexOf('/_history/'))} (id-only)`).sort();
    expect(received(idOnly).sort()).toEqual(ids(idOnly));
    for (const r of receiver.at(pathOf(idOnly))) {
      const b = JSON.parse(r.body);
      expect(b).toMatchObject({ resourceType: 'Bundle', type: 'history' });
      expect(b.entry).toHaveLength(1);
      expect(b.entry[0].resource).toBeUndefined();
      expect(b.entry[0].fullUrl).toBe(`${t.baseUrl}/${b.entry[0].request.url}`);
    }
    const empty = SUBS.find((s) => s.content === 'empty')!;
    expect(received(empty)).toEqual(expected(empty).map(() => '<no body>'));
  });

  it('subscription.html: "no notification when a resource is deleted, or when a resource is updated so that it no longer meets the criteria"', () => {
    const wrong: string[] = [];
    for (const s of SUBS.filter((x) => x.content === 'full-resource')) {
      const got = received(s);
      if (got.includes('<no body>')) wrong.push(`${s.name}: a POST without the resource (a delete?)`);
      for (const w of writes.filter((x) => !x.deleted && x.matchedBefore.has(s.name) && !criteriaMatch(s.criteria, x.sent))) {
        if (got.includes(key(w.type, w.id, w.versionId))) wrong.push(`${s.name}: ${key(w.type, w.id, w.versionId)} no longer matches`);
      }
    }
    // a deleted resource is named only as often as its matching versions (a delete adds none)
    const deleted = writes.filter((w) => w.deleted);
    expect(deleted.length).toBe(4);
    for (const d of deleted) {
      for (const s of SUBS.filter((x) => x.content === 'full-resource')) {
        const named = received(s).filter((k) => k.startsWith(`${d.type}/${d.id}/`)).length;
        const want = expected(s).filter((k) => k.startsWith(`${d.type}/${d.id}/`)).length;
        if (named !== want) wrong.push(`${s.name}: ${d.type}/${d.id} named ${named} times, ${want} matching versions`);
      }
    }
    expect(wrong).toEqual([]);
    // the re-created Observation (a new version after its delete) matches again and was notified
    const bmi = writes.filter((w) => w.id === `${RUN}-bmi` && !w.deleted).pop()!;
    expect(received(SUBS[0])).toContain(key('Observation', bmi.id, bmi.versionId));
  });

  it('subscription.html: the version a rest-hook POST carries itself matches the criteria (and is the content written)', () => {
    const wrong: string[] = [];
    for (const s of SUBS.filter((x) => x.content === 'full-resource')) {
      for (const r of receiver.at(pathOf(s))) {
        if (!r.body || r.body.includes(`${RUN}-race-`)) continue;
        const b = JSON.parse(r.body);
        const w = writes.find((x) => !x.deleted && x.type === b.resourceType && x.id === b.id && x.versionId === Number(b.meta?.versionId));
        if (!criteriaMatch(s.criteria, b)) wrong.push(`${s.name}: ${key(b.resourceType, b.id, b.meta?.versionId)} does not match`);
        else if (!w) wrong.push(`${s.name}: ${key(b.resourceType, b.id, b.meta?.versionId)} was never written`);
        else if (!isDeepStrictEqual({ ...b, meta: undefined }, { ...w.sent, meta: undefined })) {
          wrong.push(`${s.name}: ${key(b.resourceType, b.id, b.meta?.versionId)} differs from what was written`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  /** For the quick version pairs of phase 4, per Subscription: the versions that match and were not notified, and those notified that do not match. */
  function raceDiff(): Record<string, { missing: string[]; unexpected: string[] }> {
    const diff: Record<string, { missing: string[]; unexpected: string[] }> = {};
    for (const s of SUBS.filter((x) => x.content === 'full-resource')) {
      const got = received(s, true);
      const want = raceWrites.filter((w) => criteriaMatch(s.criteria, w.sent)).map((w) => key(w.type, w.id, w.versionId));
      diff[s.name] = { missing: want.filter((k) => !got.includes(k)), unexpected: got.filter((k) => !want.includes(k)) };
    }
    return diff;
  }

  // Regression: the matcher searched the current index, which may already hold a version committed after the round's
  // snapshot, and notified the round's (older, non-matching) version: `preliminary` then `final` within ~10 ms sent the
  // `preliminary` version to `status=final`. Fixed in subscription-matcher.ts (a match stands only for the version searched).
  it('subscription.html ("the search criteria are applied to the new value of the resource"): two quick versions: no notification carries a version that does not match', () => {
    expect(raceWrites.length).toBeGreaterThanOrEqual(40);
    const unexpected = Object.fromEntries(Object.entries(raceDiff()).filter(([, d]) => d.unexpected.length).map(([n, d]) => [n, d.unexpected]));
    expect(unexpected).toEqual({});
  });

  // KNOWN LIMITATION (src/fhir/subscriptions/subscription-matcher.ts, match()): changes are matched through the search
  // engine (`criteria + _id=`) on the current index, one check per changed id per round (the round's latest version),
  // so a version superseded (or deleted) before its round is never checked: `final` then `amended` within one 200 ms
  // round never notifies `status=final`, and Subscriptions matching both versions hear only of the second. R4
  // subscription.html: "any newly created or updated resources that meet the criteria in the resource cause a
  // notification". Fixing it needs matching each version on its own content (an in-memory evaluation of criteria, or
  // an index of history versions), not a small change; README "Subscriptions" documents the coalescing.
  it.skip('subscription.html ("any newly created or updated resources that meet the criteria cause a notification"): two quick versions are each notified when they match', () => {
    const missing = Object.fromEntries(Object.entries(raceDiff()).filter(([, d]) => d.missing.length).map(([n, d]) => [n, d.missing]));
    expect(missing).toEqual({});
  });

  it('subscription.html#2.46.7.1 rest-hook: every POST carries each channel.header and, with a payload, its mime type', () => {
    const wrong: string[] = [];
    for (const s of SUBS) {
      for (const r of receiver.at(pathOf(s))) {
        if (r.headers.authorization !== `Bearer oracle-${s.name}`) wrong.push(`${s.name}: Authorization ${r.headers.authorization}`);
        if (r.headers['x-oracle-subscription'] !== s.name) wrong.push(`${s.name}: X-Oracle-Subscription ${r.headers['x-oracle-subscription']}`);
        const type = r.headers['content-type'] ?? '';
        if (s.content === 'empty' ? r.body !== '' : !type.startsWith('application/fhir+json')) wrong.push(`${s.name}: Content-Type ${type}, body ${r.body.length} bytes`);
      }
    }
    expect(wrong).toEqual([]);
    // nothing went anywhere else
    expect(receiver.requests.filter((r) => !SUBS.some((s) => r.path === pathOf(s))).map((r) => r.path)).toEqual([]);
  });
});

import * as fs from 'fs';
import * as path from 'path';
import * as fhirpath from 'fhirpath';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

const R4_MODEL = require('fhirpath/fhir-context/r4');

/**
 * The batch and transaction Bundles of the FHIR R4 spec's own examples (hl7.fhir.r4.examples 4.0.1),
 * POSTed to the server as they are, black-box. What is expected is derived from each Bundle and the
 * rules of http.html (#transaction, #brules, #trules, conditional create/update/delete) and
 * bundle.html (#references, #bundle-unique); what the Bundle needs to have a deterministic outcome
 * (the version an `ifMatch` names, the resource a DELETE or GET names, the resources its references
 * name outside the Bundle, a match for a condition) is created first, derived from the Bundle too.
 * References of the stored resources are read with the `fhirpath` package, not the server's code.
 */
const EXAMPLES = path.join(__dirname, '../../../..', 'shared', 'fixtures', 'r4-examples');
const present = fs.existsSync(EXAMPLES);
if (!present) console.warn(`skipping the R4 example Bundles (http.html#transaction): ${EXAMPLES} is absent`);

type Json = Record<string, any>;

interface Refusal {
  entry: number;
  status: number;
  why: string;
}

interface Case {
  file: string;
  /** KNOWN: entries this server refuses by a deliberate, documented choice */
  refused?: Refusal[];
  /** a refused transaction made runnable here, derived from the example (the refused entries dropped or adapted) */
  adapt?: (b: Json) => Json;
}

const CASES: Case[] = [
  {
    file: 'Bundle-bundle-request-medsallergies.json',
    refused: [
      // entries 1-3, functional lists (search.html#list: `_list=$current-…`), are answered (functional-lists.ts)
      // KNOWN: `notgiven` is an STU3 MedicationStatement parameter, not R4; unknown parameters are 400 (README: search errors,
      // search.html#errors lets a server refuse them unless Prefer: handling=lenient)
      { entry: 4, status: 400, why: 'notgiven is not an R4 parameter' },
    ],
  },
  { file: 'Bundle-bundle-request-simplesummary.json' },
  {
    file: 'Bundle-bundle-transaction.json',
    // ValueSet/$lookup is no R4 operation ($lookup is CodeSystem's): 404 in a batch entry, as over REST; operations run
    // as batch entries only, so the transaction is run without it
    refused: [{ entry: 7, status: 404, why: 'POST ValueSet/$lookup' }],
    adapt: (b) => ({ ...b, entry: b.entry.filter((e: Json) => !e.request.url.includes('$')) }),
  },
  { file: 'Bundle-hla-1.json' },
  {
    file: 'Bundle-ussg-fht.json',
    // KNOWN: an absolute request.url on another server (http://hl7.org/fhir/us/sdc/…) is refused: Bundle.entry.request.url
    // is relative to the base the Bundle is posted to; made relative, the same PUTs run here
    refused: [{ entry: 0, status: 400, why: 'request.url is not on this server' }],
    adapt: (b) => ({
      ...b,
      entry: b.entry.map((e: Json) => ({ ...e, request: { ...e.request, url: e.request.url.replace(/^https?:\/\/.*\/([A-Z][A-Za-z]+\/[^/]+)$/, '$1') } })),
    }),
  },
  { file: 'Bundle-xds.json' },
];

const load = (file: string): Json => JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), 'utf8'));
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));
/** request.url relative to the base (the examples write `/Patient/example` too; an absolute one loses its base) */
const rel = (url: string) => url.replace(/^\//, '').replace(/^https?:\/\/.*?\/(?=[A-Z][A-Za-z]+(\/|\?|$))/, '');
const typeOfUrl = (url: string) => /^([A-Z][A-Za-z]+)/.exec(rel(url))?.[1];
const statusCode = (e: Json) => Number(String(e.response.status).split(' ')[0]);
const refsOf = (r: Json): string[] => fhirpath.evaluate(r, 'descendants().ofType(Reference).reference', undefined, R4_MODEL) as string[];
const urlsOf = (r: Json): string[] => fhirpath.evaluate(r, 'descendants().ofType(Attachment).url', undefined, R4_MODEL) as string[];
const identifierOf = (query: string): Json | undefined => {
  const v = new URLSearchParams(query.slice(query.indexOf('?') + 1)).get('identifier');
  if (v === null) return undefined;
  const bar = v.indexOf('|');
  return bar < 0 ? { value: v } : { system: v.slice(0, bar), value: v.slice(bar + 1) };
};
/**
 * The Bundle with its identities made new (`Type/id` of request URLs, resource ids, fullUrls, identifier values in
 * resources, URLs and ifNoneExist get `-tag`), so that one schema can run it again with the same intended outcome.
 */
function freshen(bundle: Json, tag: string): Json {
  const tokens = new Set<string>();
  for (const e of bundle.entry) {
    const m = /^[A-Z][A-Za-z]+\/([^/?]+)/.exec(e.request.url);
    if (m) tokens.add(m[1]);
    if (e.resource?.id) tokens.add(e.resource.id);
    for (const i of e.resource?.identifier ?? []) if (i.value) tokens.add(i.value);
    for (const q of [e.request.url.includes('?') ? e.request.url : undefined, e.request.ifNoneExist]) {
      const identifier = q && identifierOf(q);
      if (identifier) tokens.add(identifier.value);
    }
  }
  let text = JSON.stringify(bundle);
  for (const token of tokens) {
    const escaped = token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    text = text.replace(new RegExp(`(["/|=])${escaped}(?=["/?&])`, 'g'), `$1${token}-${tag}`);
  }
  return JSON.parse(text);
}

/** required elements of the types the examples' references name outside their Bundle */
const MINIMAL: Record<string, Json> = {
  ServiceRequest: { status: 'active', intent: 'order', subject: { display: 'prerequisite' } },
  MedicationStatement: { status: 'active', medicationCodeableConcept: { text: 'prerequisite' }, subject: { display: 'prerequisite' } },
  Observation: { status: 'final', code: { text: 'prerequisite' } },
};

/**
 * A resource a search entry `Type?patient=…&code=…&date=ge…` matches, built from its parameters (search.html:
 * patient → subject, a token `system|code` → code.coding, a date `ge`/`eq` → effectiveDateTime); undefined when the
 * search has other parameters.
 */
function matchFor(url: string): Json | undefined {
  const [type, query] = rel(url).split('?');
  if (!query || type.includes('/')) return undefined;
  const resource: Json = { resourceType: type, ...(MINIMAL[type] ?? {}) };
  for (const [name, value] of new URLSearchParams(query)) {
    if (name === 'patient') resource.subject = { reference: value.includes('/') ? value : `Patient/${value}` };
    else if (name === 'code' && value.includes('|')) resource.code = { coding: [{ system: value.split('|')[0], code: value.split('|')[1] }] };
    else if (name === 'date' && /^(ge|eq)?\d{4}-\d{2}-\d{2}$/.test(value)) resource.effectiveDateTime = value.replace(/^(ge|eq)/, '');
    else return undefined;
  }
  return resource;
}

/**
 * The entry a reference written in the entry `from` resolves to within the Bundle (bundle.html#references):
 * an absolute reference is the fullUrl itself; a relative `Type/id` is read against the base of a RESTful
 * fullUrl. Version-specific references stay as they are (http.html#trules).
 */
function resolveInBundle(ref: string, from: string | undefined, fullUrls: Set<string>): string | undefined {
  if (ref.startsWith('#') || ref.includes('?') || ref.includes('/_history/')) return undefined;
  if (/^(https?|urn):/.test(ref)) return fullUrls.has(ref) ? ref : undefined;
  const restful = from && /^(https?:\/\/.*)\/[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.exec(from);
  if (restful) return fullUrls.has(`${restful[1]}/${ref}`) ? `${restful[1]}/${ref}` : undefined;
  // KNOWN: a relative reference in an entry without a RESTful fullUrl (urn:uuid:) has no defined meaning within the
  // Bundle (bundle.html#references); the server resolves it to the one entry whose fullUrl ends with /Type/id (README:
  // "absolute fullUrls of created entries"), which Bundle-xds relies on (its DocumentReference names Patient/a2)
  const ending = [...fullUrls].filter((u) => u.endsWith(`/${ref}`));
  return ending.length === 1 ? ending[0] : undefined;
}

(present ? describe : describe.skip)('R4 spec example batch/transaction Bundles (http.html#transaction)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  const post = (bundle: Json) => t.http.post('/fhir').set('Content-Type', FHIR_JSON).send(bundle);
  const local = (ref: string) => (ref.startsWith(`${t.baseUrl}/`) ? ref.slice(t.baseUrl.length + 1) : ref);
  const isLocal = (ref: string) => !/^(https?|urn):/.test(local(ref)) && !ref.startsWith('#');
  const read = async (ref: string) => t.http.get(`/fhir/${local(ref)}`).set('Accept', FHIR_JSON);
  const count = async (query: string) => (await t.http.get(`/fhir/${query}${query.includes('?') ? '&' : '?'}_summary=count`)).body.total as number;
  const historyLength = async (type: string) => {
    const h = await t.http.get(`/fhir/${type}/_history?_count=1000`);
    expect(h.body.entry.length).toBeLessThan(1000);
    return h.body.entry.length as number;
  };

  /** `Type/id` at version `n` (or at least existing): PUT as often as needed */
  const ensure = async (type: string, id: string, version = 1, body?: Json) => {
    for (let v = 0; v < version; v++) {
      const content = { ...(body ?? MINIMAL[type] ?? {}), resourceType: type, id, meta: { tag: [{ system: 'urn:prerequisite', code: `v${v}` }] } };
      const res = await t.http.put(`/fhir/${type}/${id}`).set('Content-Type', FHIR_JSON).send(content);
      expect([200, 201]).toContain(res.status);
      if (Number(res.body.meta.versionId) >= version) return;
    }
  };

  /**
   * What the Bundle's intended outcome needs, derived from its entries: the version each `ifMatch` names,
   * the resource each DELETE / GET / PATCH of `Type/id` names, a match for each conditional DELETE, and the
   * resources its references name outside the Bundle (http.html#trules: those are left untouched).
   */
  const prerequisites = async (bundle: Json): Promise<Map<number, string>> => {
    const seeded = new Map<number, string>();
    const fullUrls = new Set<string>(bundle.entry.map((e: Json) => e.fullUrl).filter(Boolean));
    const targets = new Set<string>();
    for (const e of bundle.entry) {
      const { method, ifMatch } = e.request;
      const url = rel(e.request.url);
      if (url.includes('$') || /^https?:/.test(url)) continue;
      const [type, id] = url.split('?')[0].split('/');
      if (id !== undefined && !url.includes('?')) {
        targets.add(`${type}/${id}`);
        const version = ifMatch ? Number(/W\/"(\d+)"/.exec(ifMatch)![1]) : method === 'PUT' ? 0 : 1;
        if (version) await ensure(type, id, version, method === 'PUT' ? e.resource : undefined);
      } else if (method === 'DELETE' && identifierOf(url)) {
        const res = await t.http.post(`/fhir/${type}`).send({ resourceType: type, ...(MINIMAL[type] ?? {}), identifier: [identifierOf(url)] });
        expect(res.status).toBe(201);
      }
    }
    for (const e of bundle.entry) {
      for (const ref of e.resource ? refsOf(e.resource) : []) {
        if (resolveInBundle(ref, e.fullUrl, fullUrls) || !isLocal(ref) || ref.includes('?')) continue;
        const [type, id] = ref.split('/');
        if (!targets.has(`${type}/${id}`)) await ensure(type, id);
      }
    }
    // a batch's searches: one resource each matches, so that what they answer is known
    for (const [i, e] of bundle.entry.entries()) {
      const match = bundle.type === 'batch' && e.request.method === 'GET' ? matchFor(e.request.url) : undefined;
      if (!match) continue;
      const res = await t.http.post(`/fhir/${match.resourceType}`).set('Content-Type', FHIR_JSON).send(match);
      expect(res.status).toBe(201);
      seeded.set(i, `${match.resourceType}/${res.body.id}`);
    }
    return seeded;
  };

  /**
   * The response of a Bundle that ran (http.html#transaction): a `*-response` with one entry per request entry, in
   * order; each status what its method answers (POST 201, or 200 for an ifNoneExist match; PUT 200/201; DELETE
   * 200/204; GET/HEAD 200/304); each write's `location` `Type/id/_history/n` of its request's type (its id for
   * `PUT Type/id`), `etag` W/"n"; each location readable (read and vread) at that version.
   */
  const expectResponse = async (bundle: Json, res: any, refused: Refusal[] = [], seeded = new Map<number, string>()) => {
    expect(res.body.issue).toBeUndefined();
    expect(res.status).toBe(200);
    expect(res.body.type).toBe(`${bundle.type}-response`);
    expect(res.body.entry).toHaveLength(bundle.entry.length);
    for (const [i, e] of bundle.entry.entries()) {
      const r = res.body.entry[i];
      const status = statusCode(r);
      const known = refused.find((k) => k.entry === i);
      if (known) {
        expect({ i, status }).toEqual({ i, status: known.status });
        expect(r.response.outcome.issue[0].diagnostics).toMatch(new RegExp(`^Bundle\\.entry\\[${i}\\]`));
        continue;
      }
      const { method } = e.request;
      const url = rel(e.request.url);
      const allowed = { POST: e.request.ifNoneExist ? [200, 201] : [201], PUT: [200, 201], PATCH: [200], DELETE: [200, 204], GET: [200, 304], HEAD: [200, 304] }[method as string]!;
      expect({ i, method, status, allowed: allowed.includes(status) }).toEqual({ i, method, status, allowed: true });
      if (method === 'GET' || method === 'HEAD' || method === 'DELETE') {
        if (method === 'GET' && status === 200) {
          const [type, id] = url.split('?')[0].split('/');
          if (url.includes('?') || id === undefined) {
            expect(r.resource).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
            const found = (r.resource.entry ?? []).map((x: Json) => `${x.resource.resourceType}/${x.resource.id}`);
            if (seeded.has(i)) expect({ i, found }).toEqual({ i, found: expect.arrayContaining([seeded.get(i)]) });
          } else expect(r.resource).toMatchObject({ resourceType: type, id });
        }
        continue;
      }
      const type = typeOfUrl(url);
      const m = new RegExp(`^${type}/([A-Za-z0-9\\-.]{1,64})/_history/(\\d+)$`).exec(r.response.location);
      expect({ i, location: r.response.location, matches: !!m }).toEqual({ i, location: r.response.location, matches: true });
      const [, id, version] = m!;
      if (method === 'PUT' && !url.includes('?')) expect(id).toBe(url.split('/')[1]);
      if (status === 201 && method === 'POST') expect(version).toBe('1');
      if (status === 200 && method === 'PUT') expect(Number(version)).toBeGreaterThan(1);
      expect(r.response.etag).toBe(`W/"${version}"`);
      expect(Number.isNaN(Date.parse(r.response.lastModified))).toBe(false);
      const now = await read(`${type}/${id}`);
      expect({ i, status: now.status, version: now.body.meta?.versionId }).toEqual({ i, status: 200, version });
      expect((await read(r.response.location)).status).toBe(200);
    }
  };

  /** fullUrl → `Type/id` the server gave it (from the response locations) */
  const targetsOf = (bundle: Json, res: any) => {
    const map = new Map<string, string>();
    bundle.entry.forEach((e: Json, i: number) => {
      const location = res.body.entry[i]?.response?.location;
      if (e.fullUrl && location) map.set(e.fullUrl, location.split('/_history')[0]);
    });
    return map;
  };

  /**
   * bundle.html#references, http.html#trules: every reference (and Attachment.url: "elements of type uri, url")
   * of each stored resource that names an entry of the Bundle now names the resource that entry wrote; the others
   * are unchanged; every local reference names a resource that exists.
   */
  const expectReferences = async (bundle: Json, res: any) => {
    const fullUrls = new Set<string>(bundle.entry.map((e: Json) => e.fullUrl).filter(Boolean));
    const target = targetsOf(bundle, res);
    let checked = 0;
    for (const [i, e] of bundle.entry.entries()) {
      const location = res.body.entry[i].response.location;
      if (!e.resource || !location || e.resource.resourceType === 'Binary') continue;
      const stored = (await read(location.split('/_history')[0])).body;
      const want = (value: string) => {
        const hit = resolveInBundle(value, e.fullUrl, fullUrls);
        return hit ? target.get(hit)! : value;
      };
      expect({ i, refs: refsOf(stored).map(local) }).toEqual({ i, refs: refsOf(e.resource).map((r) => local(want(r))) });
      // (url elements are links when they are a fullUrl: compared as absolute or relative strings, not resolved)
      expect({ i, urls: urlsOf(stored).map(local) }).toEqual({ i, urls: urlsOf(e.resource).map((u) => local(fullUrls.has(u) ? target.get(u)! : u)) });
      // (a version-specific reference names the resource here; its version is checked where it is known to exist)
      for (const ref of refsOf(stored).filter(isLocal).map((r) => r.split('/_history/')[0])) {
        checked++;
        expect({ i, ref, status: (await read(ref)).status }).toEqual({ i, ref, status: 200 });
      }
    }
    return checked;
  };

  /** nothing of a refused transaction is readable: history of every type it names unchanged */
  const snapshot = async (bundle: Json) => {
    const types = [...new Set<string>(bundle.entry.map((e: Json) => typeOfUrl(e.request.url.replace(/^https?:\/\/.*\/([A-Z][A-Za-z]+\/)/, '$1'))).filter(Boolean))];
    return Object.fromEntries(await Promise.all(types.map(async (type) => [type, await historyLength(type)] as const)));
  };

  it('covers every batch and transaction Bundle of the R4 examples (http.html#transaction)', () => {
    const found = fs
      .readdirSync(EXAMPLES)
      .filter((f) => f.startsWith('Bundle-') && f.endsWith('.json'))
      .filter((f) => ['batch', 'transaction'].includes(load(f).type))
      .sort();
    expect(found).toEqual(CASES.map((c) => c.file).sort());
  });

  describe.each(CASES.map((c) => [c.file, c] as const))('%s', (_file, c) => {
    it('POSTed after its prerequisites: one response entry per request, in order, statuses per method (http.html#transaction, #brules, #trules)', async () => {
      const bundle = load(c.file);
      const seeded = await prerequisites(c.adapt ? c.adapt(bundle) : bundle);
      if (bundle.type === 'transaction' && c.refused?.length) {
        // http.html#trules: "the transaction SHALL fail": nothing of it happens
        const before = await snapshot(bundle);
        const res = await post(bundle);
        expect(res.status).toBe(c.refused[0].status);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect(res.body.issue[0].diagnostics).toMatch(new RegExp(`^Bundle\\.entry\\[${c.refused[0].entry}\\]`));
        expect(await snapshot(bundle)).toEqual(before);
        const adapted = c.adapt!(bundle);
        const ok = await post(adapted);
        await expectResponse(adapted, ok);
        await expectReferences(adapted, ok);
        return;
      }
      const res = await post(bundle);
      await expectResponse(bundle, res, c.refused, seeded);
      if (bundle.type === 'transaction') await expectReferences(bundle, res);
    });
  });

  describe('Bundle-bundle-transaction.json', () => {
    const adapted = (tag: string) => freshen(CASES.find((c) => c.file === 'Bundle-bundle-transaction.json')!.adapt!(load('Bundle-bundle-transaction.json')), tag);
    const only = (tag: string, pick: (e: Json) => boolean) => ({ ...adapted(tag), entry: adapted(tag).entry.filter(pick) });
    const ifNoneExist = (tag: string) => only(tag, (e) => !!e.request.ifNoneExist);
    const condUpdate = (tag: string) => only(tag, (e) => e.request.method === 'PUT' && e.request.url.includes('?'));
    const condDelete = (tag: string) => only(tag, (e) => e.request.method === 'DELETE' && e.request.url.includes('?'));

    it('is processed DELETE, POST, PUT, GET: its GET entries see its writes, not its deletes (http.html#trules)', async () => {
      const bundle = adapted('order');
      await prerequisites(bundle);
      const deleted = bundle.entry.filter((e: Json) => e.request.method === 'DELETE');
      const byId = deleted.filter((e: Json) => !e.request.url.includes('?')).map((e: Json) => e.request.url);
      const byCondition = (await Promise.all(deleted.filter((e: Json) => e.request.url.includes('?')).map((e: Json) => t.http.get(`/fhir/${e.request.url}`))))
        .flatMap((s) => s.body.entry.map((x: Json) => `${x.resource.resourceType}/${x.resource.id}`));
      const res = await post(bundle);
      await expectResponse(bundle, res);
      const written = bundle.entry.flatMap((e: Json, i: number) => (['POST', 'PUT'].includes(e.request.method) ? [res.body.entry[i].response.location.split('/_history')[0]] : []));
      for (const [i, e] of bundle.entry.entries()) {
        if (e.request.method !== 'GET') continue;
        const got = res.body.entry[i];
        if (e.request.url.includes('?')) {
          // every Patient this transaction wrote is named Peter (the search's criterion): all of them are found
          const found = got.resource.entry.map((x: Json) => `${x.resource.resourceType}/${x.resource.id}`);
          expect(found).toEqual(expect.arrayContaining(written));
          for (const d of [...byId, ...byCondition]) expect(found).not.toContain(d);
        } else {
          // http.html#cread: neither the ifNoneMatch version nor the ifModifiedSince date holds: 200 with the resource
          expect(statusCode(got)).toBe(200);
          expect(got.resource.meta.versionId).not.toBe(/W\/"(\d+)"/.exec(e.request.ifNoneMatch)![1]);
        }
      }
      for (const d of [...byId, ...byCondition]) expect((await read(d)).status).toBe(410);
      // PUT with ifMatch W/"2" made version 3
      const i123a = bundle.entry.findIndex((e: Json) => e.request.ifMatch);
      expect(res.body.entry[i123a].response.etag).toBe(`W/"${Number(/W\/"(\d+)"/.exec(bundle.entry[i123a].request.ifMatch)![1]) + 1}"`);
    });

    it('a DELETE and a conditional create of the same identity: the delete is processed first, the create creates (http.html#trules)', async () => {
      const create = ifNoneExist('dp').entry[0];
      const existing = await t.http.post('/fhir/Patient').send({ ...create.resource });
      const res = await post({ ...adapted('dp'), entry: [create, { request: { method: 'DELETE', url: `Patient?${create.request.ifNoneExist}` } }] });
      await expectResponse({ type: 'transaction', entry: [create, { request: { method: 'DELETE', url: 'Patient?x' } }] }, res);
      expect(res.body.entry.map(statusCode)).toEqual([201, 204]);
      expect(res.body.entry[0].response.location).not.toContain(existing.body.id);
      expect((await read(`Patient/${existing.body.id}`)).status).toBe(410);
      expect(await count(`Patient?${create.request.ifNoneExist}`)).toBe(1);
    });

    it('ifNoneExist: no match creates, one match is a 200 no-op, several fail the transaction with 412 (http.html#ccreate)', async () => {
      const bundle = ifNoneExist('ine');
      const q = `Patient?${bundle.entry[0].request.ifNoneExist}`;
      await t.http.delete(`/fhir/${q}`);
      expect(await count(q)).toBe(0);
      const first = await post(bundle);
      await expectResponse(bundle, first);
      expect(statusCode(first.body.entry[0])).toBe(201);
      const second = await post(bundle);
      expect(statusCode(second.body.entry[0])).toBe(200);
      expect(second.body.entry[0].response.location).toBe(first.body.entry[0].response.location);
      await t.http.post('/fhir/Patient').send(bundle.entry[0].resource);
      const before = await historyLength('Patient');
      const third = await post(bundle);
      expect(third.status).toBe(412);
      expect(third.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[0\]/);
      expect(await historyLength('Patient')).toBe(before);
    });

    it('conditional update: no match creates, one match is updated, several fail with 412 (http.html#cond-update)', async () => {
      const bundle = condUpdate('cu');
      const q = bundle.entry[0].request.url;
      const first = await post(bundle);
      await expectResponse(bundle, first);
      const id = first.body.entry[0].response.location.split('/')[1];
      const second = await post(bundle);
      await expectResponse(bundle, second);
      expect(statusCode(second.body.entry[0])).toBe(200);
      expect(second.body.entry[0].response.location).toMatch(new RegExp(`^Patient/${id}/_history/${Number(first.body.entry[0].response.etag.slice(3, -1)) + 1}$`));
      expect(await count(q)).toBe(1);
      await t.http.post('/fhir/Patient').send(bundle.entry[0].resource);
      const before = await historyLength('Patient');
      const third = await post(bundle);
      expect(third.status).toBe(412);
      expect(await historyLength('Patient')).toBe(before);
    });

    it('conditional delete: no match is done, one match is deleted, several fail with 412 (http.html#cdelete; CONDITIONAL_DELETE_MAX=1)', async () => {
      const bundle = condDelete('cd');
      const q = bundle.entry[0].request.url;
      const resource = { resourceType: 'Patient', identifier: [identifierOf(q)] };
      const none = await post(bundle);
      await expectResponse(bundle, none);
      expect(await count(q)).toBe(0);
      const one = (await t.http.post('/fhir/Patient').send(resource)).body.id;
      await expectResponse(bundle, await post(bundle));
      expect((await read(`Patient/${one}`)).status).toBe(410);
      await t.http.post('/fhir/Patient').send(resource);
      await t.http.post('/fhir/Patient').send(resource);
      const several = await post(bundle);
      expect(several.status).toBe(412);
      expect(await count(q)).toBe(2);
    });

    it('POSTed twice, its conditional entries create nothing new the second time (http.html#ccreate, #cond-update)', async () => {
      const bundle = only('twice', (e) => !!e.request.ifNoneExist || (e.request.method !== 'GET' && e.request.url.includes('?')));
      const first = await post(bundle);
      await expectResponse(bundle, first);
      const total = await count('Patient');
      const second = await post(bundle);
      await expectResponse(bundle, second);
      expect(await count('Patient')).toBe(total);
      bundle.entry.forEach((e: Json, i: number) => {
        if (e.request.method === 'DELETE') return;
        expect(statusCode(second.body.entry[i])).toBe(200);
        expect(second.body.entry[i].response.location.split('/_history')[0]).toBe(first.body.entry[i].response.location.split('/_history')[0]);
      });
    });

    it('as a batch, the failing entry is reported in its entry and the others are done (http.html#brules)', async () => {
      const bundle = { ...freshen(load('Bundle-bundle-transaction.json'), 'batch'), type: 'batch' };
      // (a batch runs its entries independently: the second Patient's ifNoneExist may match the one created earlier)
      await prerequisites(bundle);
      const res = await post(bundle);
      await expectResponse(bundle, res, CASES.find((c) => c.file === 'Bundle-bundle-transaction.json')!.refused);
    });
  });

  describe('Bundle-ussg-fht.json', () => {
    it('with its absolute request.urls and fullUrls on this server base: the same PUTs run, as updates of what is there (http.html#transaction)', async () => {
      const original = load('Bundle-ussg-fht.json');
      const base = /^(https?:\/\/.*)\/Questionnaire\/[^/]+$/.exec(original.entry[0].request.url)![1];
      const bundle = JSON.parse(JSON.stringify(original).split(`${base}/`).join(`${t.baseUrl}/`));
      await post(CASES.find((c) => c.file === 'Bundle-ussg-fht.json')!.adapt!(original));
      const res = await post(bundle);
      await expectResponse(bundle, res);
      expect(res.body.entry.map(statusCode)).toEqual(bundle.entry.map(() => 200));
    });
  });

  describe('Bundle-xds.json', () => {
    const patientEntry = (b: Json) => b.entry.findIndex((e: Json) => e.request.ifNoneExist);

    it('an ifNoneExist match makes the entry a 200 no-op, and the references to its fullUrl name the match (http.html#trules, #ccreate)', async () => {
      const bundle = load('Bundle-xds.json');
      const p = patientEntry(bundle);
      // the condition names one identifier (`Patient?identifier=…`): a Patient holding it is the match
      const existing = await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', identifier: [identifierOf(bundle.entry[p].request.ifNoneExist)] });
      expect(existing.status).toBe(201);
      const res = await post(bundle);
      await expectResponse(bundle, res);
      expect(statusCode(res.body.entry[p])).toBe(200);
      expect(res.body.entry[p].response.location).toBe(`Patient/${existing.body.id}/_history/1`);
      expect(await expectReferences(bundle, res)).toBeGreaterThan(0);
      const doc = (await read(res.body.entry[0].response.location.split('/_history')[0])).body;
      expect(doc.subject.reference).toBe(`Patient/${existing.body.id}`);
      // POSTed again: the match again, no second Patient
      const again = await post(bundle);
      expect(again.body.entry[p].response.location).toBe(res.body.entry[p].response.location);
      expect(await count(`Patient?${bundle.entry[p].request.ifNoneExist.split('?')[1]}`)).toBe(1);
    });

    it('with its fullUrls on this server base: created entries get new ids and every link to them is rewritten (bundle.html#references)', async () => {
      const original = load('Bundle-xds.json');
      const base = /^(https?:\/\/.*)\/Patient\/[^/]+$/.exec(original.entry[patientEntry(original)].fullUrl)![1];
      const bundle = JSON.parse(JSON.stringify(original).split(base).join(t.baseUrl));
      bundle.entry[patientEntry(bundle)].request.ifNoneExist = 'identifier=urn:none|xds-base-variant';
      const res = await post(bundle);
      await expectResponse(bundle, res);
      bundle.entry.forEach((e: Json, i: number) => {
        if (e.fullUrl?.startsWith(t.baseUrl)) expect(res.body.entry[i].response.location).not.toContain(`/${e.resource.id}/`);
      });
      expect(await expectReferences(bundle, res)).toBeGreaterThan(0);
    });
  });

  describe('Bundle-bundle-references.json as a transaction (bundle.html#references, #bundle-unique)', () => {
    /** the collection's entries as requests: PUT Type/id for a RESTful fullUrl, POST for the others */
    const asTransaction = (entries: Json[]) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: entries.map((e) => {
        const rest = /\/([A-Z][A-Za-z]+)\/([^/]+)$/.exec(e.fullUrl);
        const resource = clone(e.resource);
        delete resource.meta;
        return { ...e, resource, request: rest ? { method: 'PUT', url: `${rest[1]}/${rest[2]}` } : { method: 'POST', url: resource.resourceType } };
      }),
    });

    it('one resource twice (the same fullUrl in two versions, the same Type/id on two bases) fails the whole transaction (http.html#trules)', async () => {
      const bundle = asTransaction(load('Bundle-bundle-references.json').entry);
      const before = await snapshot(bundle);
      const res = await post(bundle);
      expect(res.status).toBe(400);
      expect(res.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[\d+\]: (Observation\/14|Patient\/45) is also the target of Bundle\.entry\[\d+\]/);
      expect(await snapshot(bundle)).toEqual(before);
    });

    it.each(['its own base', 'this server base'])('on %s: references by fullUrl, relative to a RESTful fullUrl and urn:uuid name what was written; version-specific ones stay (bundle.html#references)', async (on) => {
      const collection = load('Bundle-bundle-references.json');
      const base = /^(https?:\/\/.*)\/Patient\/23$/.exec(collection.entry[0].fullUrl)![1];
      const text = JSON.stringify(collection);
      const moved: Json = JSON.parse(on === 'this server base' ? text.split(`${base}/`).join(`${t.baseUrl}/`) : text);
      const home = on === 'this server base' ? t.baseUrl : base;
      // one transaction with an entry per resource of the main base, the first version of each
      const seen = new Set<string>();
      const firsts = moved.entry.filter((e: Json) => !/^https?:/.test(e.fullUrl) || (e.fullUrl.startsWith(`${home}/`) && !seen.has(e.fullUrl) && seen.add(e.fullUrl)));
      const bundle = asTransaction(firsts);
      const res = await post(bundle);
      await expectResponse(bundle, res);
      expect(await expectReferences(bundle, res)).toBeGreaterThan(0);
      // the next version of a fullUrl (bundle.html#bundle-unique: the same fullUrl with another meta.versionId) in a transaction of its own
      const later = asTransaction(moved.entry.filter((e: Json, i: number) => /^https?:/.test(e.fullUrl) && moved.entry.findIndex((x: Json) => x.fullUrl === e.fullUrl) < i));
      const next = await post(later);
      await expectResponse(later, next);
      // now the version-specific reference (Patient/45/_history/2) names a version that exists
      const versioned = bundle.entry.flatMap((e: Json) => refsOf(e.resource).filter((r) => r.includes('/_history/')));
      expect(versioned.length).toBeGreaterThan(0);
      for (const r of versioned) expect((await read(r)).status).toBe(200);
    });
  });
});

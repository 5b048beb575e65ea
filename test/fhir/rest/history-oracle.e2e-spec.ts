import * as fs from 'fs';
import { randomBytes } from 'crypto';
import { startTestApp, TestApp } from '../../helpers/test-app';
import {
  canonical, entryFindings, entryKey, keyOf, Method, normalize, pickExamples, R4_EXAMPLES, Stamp, TYPES, Version, VersionLog, versionKey,
} from './history-oracle-log';
import { prng } from '../../helpers/prng';

/**
 * Oracle sweep of versioning and history (R4 http.html §3.1.0.4 vread, §3.1.0.11 history, #versioning, #read
 * conditional read) over FHIR R4 spec examples. A seeded sequence of writes (POST and PUT-as-create with client ids,
 * PUT updates, JSON Patch, DELETE, re-create by PUT after a delete, a transaction and a batch Bundle) is logged by
 * the test itself (history-oracle-log.ts); every expectation below is computed from that log, never taken from
 * the server's answers.
 *
 * PATCH: a history entry's request is the interaction that made the version (http.html §3.1.0.11: each entry
 * carries the request that created it; R4's HTTPVerb value set has PATCH). The server keeps the method it got
 * (README: "a delete is an entry with request.method = DELETE"; PATCH versions are stored with method PATCH,
 * src/fhir/rest/history.service.ts historyEntry), so a patched version is expected as PATCH, not PUT.
 * _at: README "History and the change feed": `_at` gives the versions current at some point in the period; a
 * deletion is a version (an entry without resource), and it is current from its instant on.
 */
const present = fs.existsSync(R4_EXAMPLES);
if (!present) console.warn(`skipping the history oracle: ${R4_EXAMPLES} not found`);

const JSON_PATCH = 'application/json-patch+json';
const TAG_SYSTEM = 'urn:history-oracle';
const STEPS = 90;

(present ? describe : describe.skip)('history and versioning oracle over the R4 examples (http.html §3.1.0.4, §3.1.0.11)', () => {
  let t: TestApp;
  const log = new VersionLog();
  const refused: string[] = [];
  /** the run's own client-id prefix: repeated runs against one database do not collide */
  const prefix = `ho${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  let runStart = '';

  const rel = (url: string) => url.replace(t.baseUrl, '/fhir');
  const next = (b: any) => b.link?.find((l: any) => l.relation === 'next')?.url as string | undefined;
  const live = () => log.keys().filter((k) => !log.current(k)!.deleted);
  const ours = (e: any) => log.of(entryKey(e).split('/_history/')[0]).length > 0;
  const stampOf = (r: any, lo: number, hi: number): Stamp => {
    const lu = Date.parse(r.body?.meta?.lastUpdated ?? '');
    return Number.isFinite(lu) ? { lo: lu, hi: lu } : { lo, hi };
  };
  const reported = (r: any) => ({ etag: r.headers.etag, lastModified: r.headers['last-modified'], location: r.headers.location });

  /** One REST write, logged as the version it must have made (content: what the resource is now, per the test). */
  async function write(method: Method, type: string, id: string | undefined, body: any, content?: any): Promise<Version | undefined> {
    const url = id ? `/fhir/${type}/${id}` : `/fhir/${type}`;
    const lo = Date.now();
    const req = method === 'POST' ? t.http.post(url) : method === 'PUT' ? t.http.put(url) : method === 'PATCH' ? t.http.patch(url) : t.http.delete(url);
    const r = await (method === 'PATCH' ? req.set('Content-Type', JSON_PATCH).send(JSON.stringify(body)) : body ? req.send(body) : req);
    const hi = Date.now();
    if (r.status >= 400) {
      refused.push(`${method} ${url}: ${r.status} ${r.body?.issue?.[0]?.diagnostics ?? ''}`);
      return undefined;
    }
    const realId = id ?? r.body.id;
    const v: Omit<Version, 'versionId'> = {
      type, id: realId, method, status: r.status, deleted: method === 'DELETE', stamp: stampOf(r, lo, hi), via: 'rest', reported: reported(r),
      content: method === 'DELETE' ? undefined : { ...(content ?? body), id: realId },
    };
    return log.add(v);
  }

  /** Logs the writes of a batch/transaction from its request and the entries of its response. */
  async function bundle(type: 'batch' | 'transaction', entries: { method: Method; type: string; id?: string; resource?: any }[]) {
    const lo = Date.now();
    const r = await t.http.post('/fhir').send({
      resourceType: 'Bundle', type,
      entry: entries.map((e, i) => ({
        fullUrl: e.id ? undefined : `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        resource: e.resource && (e.id ? { ...e.resource, id: e.id } : e.resource),
        request: { method: e.method, url: e.id ? `${e.type}/${e.id}` : e.type },
      })),
    });
    const hi = Date.now();
    expect(r.status).toBe(200);
    r.body.entry.forEach((re: any, i: number) => {
      const e = entries[i];
      const status = Number(String(re.response.status).split(' ')[0]);
      if (status >= 400) return void refused.push(`${type} entry ${i}: ${re.response.status}`);
      const id = e.id ?? re.response.location.split('/')[1];
      const lu = Date.parse(re.response.lastModified ?? '');
      log.add({
        type: e.type, id, method: e.method, status, deleted: e.method === 'DELETE', via: type,
        stamp: Number.isFinite(lu) ? { lo: lu, hi: lu } : { lo, hi },
        reported: { etag: re.response.etag, lastModified: re.response.lastModified, location: re.response.location },
        content: e.resource && { ...e.resource, id },
      });
    });
  }

  beforeAll(async () => {
    t = await startTestApp();
    runStart = new Date(Date.now() - 1).toISOString();
    const { main, spare } = pickExamples(4);
    // create: even files by POST (server id), odd files by PUT-as-create with a client id
    for (const [i, ex] of main.entries()) {
      if (i % 2 === 0) await write('POST', ex.resourceType, undefined, ex);
      else await write('PUT', ex.resourceType, `${prefix}-${i}`, { ...ex, id: `${prefix}-${i}` });
    }
    const rnd = prng(20261129);
    for (let step = 0; step < STEPS; step++) {
      const keys = log.keys();
      const key = keys[Math.floor(rnd() * keys.length)];
      const cur = log.current(key)!;
      const last = log.of(key).filter((v) => !v.deleted).pop()!.content;
      const x = rnd();
      const tagged = (c: any) => ({ ...c, meta: { ...c.meta, tag: [...(c.meta?.tag ?? []), { system: TAG_SYSTEM, code: `step-${step}` }] } });
      if (cur.deleted) await write('PUT', cur.type, cur.id, tagged(last)); // re-create after delete
      else if (x < 0.4) await write('PUT', cur.type, cur.id, tagged(last));
      else if (x < 0.75) {
        const value = `urn:history-oracle:step-${step}`;
        await write('PATCH', cur.type, cur.id, [{ op: 'add', path: '/implicitRules', value }], { ...last, implicitRules: value });
      } else await write('DELETE', cur.type, cur.id, undefined);
    }
    // a transaction: create (urn:uuid), update, delete; a batch: create, update, re-create of a deleted id
    const [a, b, c] = live();
    const deleted = log.keys().find((k) => log.current(k)!.deleted);
    const upd = (k: string, s: string) => {
      const l = log.of(k).filter((v) => !v.deleted).pop()!;
      return { method: 'PUT' as const, type: l.type, id: l.id, resource: { ...l.content, meta: { tag: [{ system: TAG_SYSTEM, code: s }] } } };
    };
    await bundle('transaction', [
      { method: 'POST', type: spare[0].resourceType, resource: spare[0] },
      upd(a, 'transaction'),
      { method: 'DELETE', type: log.current(b)!.type, id: log.current(b)!.id },
    ]);
    await bundle('batch', [{ method: 'POST', type: spare[1].resourceType, resource: spare[1] }, upd(c, 'batch'), ...(deleted ? [upd(deleted, 'batch-recreate')] : [])]);
    if (refused.length) console.log(`history oracle: ${refused.length} writes refused and left out of the log:\n  ${refused.join('\n  ')}`);
  });
  afterAll(async () => t?.close());

  it('the sweep wrote what it set out to: every kind of interaction, over many types', () => {
    const methods = new Set(log.versions.map((v) => `${v.via}:${v.method}`));
    for (const m of ['rest:POST', 'rest:PUT', 'rest:PATCH', 'rest:DELETE', 'transaction:POST', 'transaction:PUT', 'transaction:DELETE', 'batch:PUT'])
      expect(methods).toContain(m);
    expect(new Set(log.versions.map((v) => v.type)).size).toBeGreaterThanOrEqual(12);
    expect(log.keys().some((k) => log.of(k).some((v, i) => v.deleted && log.of(k)[i + 1] && !log.of(k)[i + 1].deleted))).toBe(true);
    expect(log.versions.length).toBeGreaterThan(120);
  });

  // http.html#versioning, #create, #update: ETag W/"n", Last-Modified (the version's meta.lastUpdated), Location …/_history/n
  it('writes answer ETag W/"n" with the version the log counts, Last-Modified, and Location on create (http.html#versioning)', () => {
    const findings: string[] = [];
    for (const v of log.versions) {
      const r = v.reported;
      if (r.etag !== `W/"${v.versionId}"`) findings.push(`${versionKey(v)} (${v.via} ${v.method}): etag ${r.etag}`);
      if (v.deleted || v.via !== 'rest') continue;
      if (r.lastModified !== new Date(v.stamp.lo).toUTCString()) findings.push(`${versionKey(v)}: Last-Modified ${r.lastModified}`);
      if (v.status === 201 && !r.location?.endsWith(`/${versionKey(v)}`)) findings.push(`${versionKey(v)}: Location ${r.location}`);
    }
    for (const v of log.versions.filter((x) => x.via !== 'rest' && !x.deleted)) {
      if (!v.reported.location?.endsWith(versionKey(v))) findings.push(`${versionKey(v)} (${v.via}): location ${v.reported.location}`);
    }
    expect(findings).toEqual([]);
  });

  // http.html §3.1.0.11 instance history: every version newest first; a delete is an entry without resource, method DELETE
  it('instance history holds every logged version, newest first (http.html §3.1.0.11)', async () => {
    const findings: string[] = [];
    for (const key of log.keys()) {
      const res = await t.http.get(`/fhir/${key}/_history?_count=1000`);
      expect(res.status).toBe(200);
      const want = [...log.of(key)].reverse();
      const got: any[] = res.body.entry ?? [];
      if (got.map(entryKey).join() !== want.map(versionKey).join()) findings.push(`${key}: ${got.map(entryKey)} != ${want.map(versionKey)}`);
      else got.forEach((e, i) => findings.push(...entryFindings(e, want[i], t.baseUrl)));
    }
    expect(findings).toEqual([]);
  });

  /** Checks a list of history entries against the expected versions: the same set, no duplicate, newest first. */
  function compare(label: string, got: any[], want: Version[]): string[] {
    const f: string[] = [];
    const keys = got.map(entryKey);
    if (new Set(keys).size !== keys.length) f.push(`${label}: duplicate entries`);
    const wantKeys = new Set(want.map(versionKey));
    const missing = [...wantKeys].filter((k) => !keys.includes(k));
    const extra = keys.filter((k) => !wantKeys.has(k));
    if (missing.length || extra.length) f.push(`${label}: missing ${missing.slice(0, 5)} (${missing.length}), extra ${extra.slice(0, 5)} (${extra.length})`);
    for (let i = 1; i < got.length; i++) {
      if (Date.parse(got[i].response.lastModified) > Date.parse(got[i - 1].response.lastModified)) f.push(`${label}: not newest first at ${i} (${keys[i]})`);
    }
    const byKey = new Map(want.map((v) => [versionKey(v), v]));
    for (const e of got) if (byKey.has(entryKey(e))) f.push(...entryFindings(e, byKey.get(entryKey(e))!, t.baseUrl).map((s) => `${label}: ${s}`));
    return f;
  }

  async function drain(url: string): Promise<{ entries: any[]; pages: number }> {
    const entries: any[] = [];
    let pages = 0;
    for (let u: string | undefined = url; u; pages++) {
      const res = await t.http.get(u);
      expect(res.status).toBe(200);
      expect(res.body.type).toBe('history');
      entries.push(...(res.body.entry ?? []));
      u = next(res.body) && rel(next(res.body)!);
    }
    return { entries, pages };
  }

  // http.html §3.1.0.11 type history (GET [base]/[type]/_history): our ids only (filtered by the log's keys)
  it('type history of each type holds exactly the logged versions of that type, newest first (http.html §3.1.0.11)', async () => {
    const findings: string[] = [];
    for (const type of new Set(log.versions.map((v) => v.type))) {
      const { entries } = await drain(`/fhir/${type}/_history?_count=1000&_since=${encodeURIComponent(runStart)}`);
      findings.push(...compare(type, entries.filter(ours), log.versions.filter((v) => v.type === type)));
    }
    expect(findings).toEqual([]);
  });

  // http.html §3.1.0.11 system history with _type, paged by _count: follow next to the end, no duplicates, no gaps
  it('system history with _type and _count=7 pages through every logged version once, newest first (http.html §3.1.0.11)', async () => {
    const { entries, pages } = await drain(`/fhir/_history?_type=${TYPES.join(',')}&_count=7&_since=${encodeURIComponent(runStart)}`);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(log.versions.length / 7));
    expect(compare('system', entries.filter(ours), log.versions)).toEqual([]);
  });

  /** Cut points: the stamps of logged versions at fixed fractions of the run (deterministic given the log). */
  const cuts = () => {
    const known = log.versions.filter((v) => v.stamp.lo === v.stamp.hi).map((v) => v.stamp.lo).sort((x, y) => x - y);
    return [0.1, 0.3, 0.5, 0.7, 0.9, 0.99].map((f) => known[Math.floor(f * (known.length - 1))]);
  };

  // http.html §3.1.0.11 _since: "Only include resource versions that were created at or after the given instant in time"
  it('_since keeps the versions created at or after each cut (including the one stamped at it) (http.html §3.1.0.11)', async () => {
    const findings: string[] = [];
    for (const cut of cuts()) {
      for (const at of [cut, cut + 1]) {
        const iso = new Date(at).toISOString();
        const { entries } = await drain(`/fhir/_history?_type=${TYPES.join(',')}&_count=1000&_since=${encodeURIComponent(iso)}`);
        findings.push(...compare(`_since=${iso}`, entries.filter(ours), log.since(at)));
      }
    }
    expect(findings).toEqual([]);
  });

  // http.html §3.1.0.11 _at: "Only include resource versions that were current at some point during the time period
  // specified in the date time value" — an instant (a one-millisecond period) and a whole second
  it('_at keeps the versions current at some point in the period, at system and instance level (http.html §3.1.0.11)', async () => {
    const findings: string[] = [];
    let checked = 0;
    for (const cut of cuts()) {
      const second = Math.floor(cut / 1000) * 1000;
      const periods: [string, number, number][] = [[new Date(cut).toISOString(), cut, cut]];
      if (log.decidable(second) && log.decidable(second + 999)) periods.push([new Date(second).toISOString().replace('.000Z', 'Z'), second, second + 999]);
      for (const [value, low, high] of periods) {
        const want = log.at(low, high);
        const { entries } = await drain(`/fhir/_history?_type=${TYPES.join(',')}&_count=1000&_at=${encodeURIComponent(value)}`);
        findings.push(...compare(`_at=${value}`, entries.filter(ours), want));
        checked++;
      }
    }
    // instance level: for a resource with several versions, _at each version's own instant gives exactly that version
    const multi = log.keys().filter((k) => log.of(k).length >= 3).slice(0, 5);
    for (const key of multi) {
      for (const v of log.of(key).filter((x) => x.stamp.lo === x.stamp.hi)) {
        const iso = new Date(v.stamp.lo).toISOString();
        const res = await t.http.get(`/fhir/${key}/_history?_at=${encodeURIComponent(iso)}`);
        findings.push(...compare(`${key} _at=${iso}`, res.body.entry ?? [], log.at(v.stamp.lo, v.stamp.lo).filter((x) => keyOf(x) === key)));
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
    expect(findings).toEqual([]);
  });

  // http.html §3.1.0.4 vread: every version as written; a version that is a deletion answers 410 Gone (http.html#vread)
  it('vread of every logged version returns its content with ETag and Last-Modified; a deletion is 410 (http.html §3.1.0.4)', async () => {
    const findings: string[] = [];
    for (const v of log.versions) {
      const res = await t.http.get(`/fhir/${versionKey(v)}`);
      if (v.deleted) {
        if (res.status !== 410) findings.push(`${versionKey(v)}: deleted version answered ${res.status}`);
        continue;
      }
      if (res.status !== 200) {
        findings.push(`${versionKey(v)}: ${res.status}`);
        continue;
      }
      if (canonical(normalize(res.body)) !== canonical(v.content)) findings.push(`${versionKey(v)}: content differs`);
      if (res.body.meta?.versionId !== String(v.versionId)) findings.push(`${versionKey(v)}: meta.versionId ${res.body.meta?.versionId}`);
      if (res.headers.etag !== `W/"${v.versionId}"`) findings.push(`${versionKey(v)}: ETag ${res.headers.etag}`);
      const lu = Date.parse(res.body.meta?.lastUpdated);
      if (!(lu >= v.stamp.lo && lu <= v.stamp.hi)) findings.push(`${versionKey(v)}: meta.lastUpdated outside the write's stamp`);
      if (res.headers['last-modified'] !== new Date(lu).toUTCString()) findings.push(`${versionKey(v)}: Last-Modified ${res.headers['last-modified']}`);
    }
    // a version after the last one is not known
    const k = log.keys()[0];
    expect((await t.http.get(`/fhir/${k}/_history/${log.of(k).length + 1}`)).status).toBe(404);
    expect(findings).toEqual([]);
  });

  // http.html §3.1.0.2 read: the current version; 410 Gone when it is a deletion, 200 again after a re-create;
  // conditional read (http.html#cread): If-None-Match with the current ETag, If-Modified-Since its Last-Modified: 304
  it('read answers the current version (410 when deleted) and honours If-None-Match / If-Modified-Since (http.html §3.1.0.2)', async () => {
    const findings: string[] = [];
    let recreated = 0;
    for (const key of log.keys()) {
      const cur = log.current(key)!;
      const res = await t.http.get(`/fhir/${key}`);
      if (cur.deleted) {
        if (res.status !== 410) findings.push(`${key}: deleted, read answered ${res.status}`);
        continue;
      }
      if (log.of(key).some((v) => v.deleted)) recreated++;
      const etag = `W/"${cur.versionId}"`;
      if (res.status !== 200 || res.headers.etag !== etag || canonical(normalize(res.body)) !== canonical(cur.content)) {
        findings.push(`${key}: read ${res.status} ${res.headers.etag}, want ${etag} and the logged content`);
        continue;
      }
      const lastModified = res.headers['last-modified'];
      const inm = await t.http.get(`/fhir/${key}`).set('If-None-Match', etag);
      if (inm.status !== 304 || inm.headers.etag !== etag) findings.push(`${key}: If-None-Match ${etag} answered ${inm.status} ${inm.headers.etag}`);
      if (cur.versionId > 1) {
        const old = await t.http.get(`/fhir/${key}`).set('If-None-Match', `W/"${cur.versionId - 1}"`);
        if (old.status !== 200) findings.push(`${key}: If-None-Match of an older version answered ${old.status}`);
      }
      const ims = await t.http.get(`/fhir/${key}`).set('If-Modified-Since', lastModified);
      if (ims.status !== 304) findings.push(`${key}: If-Modified-Since ${lastModified} answered ${ims.status}`);
      const before = new Date(Date.parse(lastModified) - 1000).toUTCString();
      const older = await t.http.get(`/fhir/${key}`).set('If-Modified-Since', before);
      if (older.status !== 200) findings.push(`${key}: If-Modified-Since ${before} answered ${older.status}`);
    }
    expect(recreated).toBeGreaterThan(0);
    expect(findings).toEqual([]);
  });
});

import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import type { Bundle } from 'fhir/r4';
import type { TestApp } from '../../helpers/test-app';

/**
 * Helpers of the Bulk Data export oracle (export-oracle.e2e-spec.ts): the fixtures, the expected
 * stored form of a fixture resource, and one whole export (kick-off, poll, download).
 */

/** ../shared/fixtures/synthea (never copied into the repository). */
export const SYNTHEA_ROOT = path.resolve(__dirname, '../../../../shared/fixtures/synthea');
export const SMART_DIR = path.join(SYNTHEA_ROOT, 'smart-generated-sample-data');

export const ASYNC = { Prefer: 'respond-async', Accept: 'application/fhir+json' };

/** The first `n` self-contained patient bundles in file-name order (C order: deterministic). */
export function bundlesByName(n: number): { file: string; bundle: Bundle }[] {
  return fs
    .readdirSync(SMART_DIR)
    .filter((f) => f.endsWith('.json.gz'))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, n)
    .map((file) => ({ file, bundle: JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(SMART_DIR, file))).toString('utf8')) as Bundle }));
}

/** A resource created by the test: its server `Type/id`, and its content as the fixture gives it (ids and references rewritten). */
export interface Created {
  key: string;
  type: string;
  id: string;
  expected: any;
}

/**
 * POSTs a bundle as a transaction (http.html#transaction) and reads, from each entry's
 * `response.location` (`Type/id/_history/v`), the id the server assigned. The expected content of
 * each entry is the fixture resource with that id and every `urn:uuid:` reference rewritten to the
 * server's `Type/id` (http.html#trules); `meta` is the server's and left out of the comparison.
 */
export async function loadTransaction(t: TestApp, bundle: Bundle): Promise<Created[]> {
  const res = await t.http.post('/fhir').set('Content-Type', 'application/fhir+json').send(bundle);
  if (res.status !== 200) throw new Error(`transaction failed: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
  const entries = bundle.entry ?? [];
  if (res.body.type !== 'transaction-response' || res.body.entry?.length !== entries.length) throw new Error('transaction-response does not answer every entry');
  const keys = new Map<string, string>();
  entries.forEach((e, i) => {
    const loc: string = res.body.entry[i].response?.location ?? '';
    const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})\/_history\/[^/]+$/.exec(loc);
    if (!m || m[1] !== e.resource!.resourceType) throw new Error(`entry ${i}: unexpected location "${loc}"`);
    keys.set(e.fullUrl!, `${m[1]}/${m[2]}`);
  });
  return entries.map((e) => {
    const text = JSON.stringify(e.resource).replace(/"reference":"(urn:uuid:[^"]+)"/g, (all, u) => (keys.has(u) ? `"reference":"${keys.get(u)}"` : all));
    const expected = JSON.parse(text);
    const key = keys.get(e.fullUrl!)!;
    const [type, id] = key.split('/');
    expected.id = id;
    return { key, type, id, expected };
  });
}

/** The resource without `meta` (which the server owns: versionId, lastUpdated). */
export function withoutMeta(r: any): any {
  const { meta: _meta, ...rest } = r;
  return rest;
}

/** JSON with object keys sorted: equal for contents that differ only in key order. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x,
  );
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const local = (t: TestApp, url: string) => {
  if (!url.startsWith(t.config.publicUrl)) throw new Error(`not an absolute URL of this server: ${url}`);
  return url.slice(t.config.publicUrl.length);
};

export interface ExportResult {
  kickOff: { status: number; contentLocation: string };
  manifest: any;
  /** the lines of every output file, by the file's `type` (several files of a type are joined) */
  byType: Map<string, any[]>;
  /** output entries whose `count` differs from their lines, or whose lines are not all of the entry's `type` */
  fileProblems: string[];
}

/**
 * One Bulk Data export (export.html): kick-off with `Prefer: respond-async` (GET), poll the
 * Content-Location until 200, download every output file as NDJSON.
 */
export async function runExport(t: TestApp, kickOffPath: string, timeoutMs = 60_000): Promise<ExportResult> {
  const kick = await t.http.get(kickOffPath).set(ASYNC);
  if (kick.status !== 202) throw new Error(`kick-off ${kickOffPath}: ${kick.status} ${JSON.stringify(kick.body).slice(0, 300)}`);
  const contentLocation: string = kick.headers['content-location'];
  const deadline = Date.now() + timeoutMs;
  let done: any;
  for (;;) {
    done = await t.http.get(local(t, contentLocation)).set('Accept', 'application/json');
    if (done.status !== 202) break;
    if (Date.now() > deadline) throw new Error(`export ${kickOffPath} did not finish`);
    await sleep(100);
  }
  if (done.status !== 200) throw new Error(`export ${kickOffPath}: status ${done.status} ${JSON.stringify(done.body).slice(0, 300)}`);
  const manifest = done.body;
  const byType = new Map<string, any[]>();
  const fileProblems: string[] = [];
  for (const out of manifest.output ?? []) {
    const r = await t.http
      .get(local(t, out.url))
      .set('Accept', 'application/fhir+ndjson')
      .buffer(true)
      .parse((res, cb) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => cb(null, text));
      });
    if (r.status !== 200) throw new Error(`download ${out.url}: ${r.status}`);
    const body = r.body as string;
    // ndjson: one resource per line, each line a complete JSON object
    const lines = body.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
    if (out.count !== undefined && out.count !== lines.length) fileProblems.push(`${out.url}: count ${out.count}, ${lines.length} lines`);
    const strangers = lines.filter((l) => l.resourceType !== out.type);
    if (strangers.length) fileProblems.push(`${out.url} (${out.type}): lines of type ${[...new Set(strangers.map((l) => l.resourceType))].join(',')}`);
    byType.set(out.type, [...(byType.get(out.type) ?? []), ...lines]);
  }
  return { kickOff: { status: kick.status, contentLocation }, manifest, byType, fileProblems };
}

/**
 * The difference between the exported resources and the expected set of `Type/id`: the expected ones
 * missing, the ones exported but not expected, and the ones exported more than once.
 */
export function compareSets(result: ExportResult, expected: Iterable<string>): { missing: string[]; unexpected: string[]; duplicated: string[] } {
  const want = new Set(expected);
  const seen = new Map<string, number>();
  for (const lines of result.byType.values()) for (const r of lines) seen.set(`${r.resourceType}/${r.id}`, (seen.get(`${r.resourceType}/${r.id}`) ?? 0) + 1);
  return {
    missing: [...want].filter((k) => !seen.has(k)).sort(),
    unexpected: [...seen.keys()].filter((k) => !want.has(k)).sort(),
    duplicated: [...seen].filter(([, n]) => n > 1).map(([k]) => k).sort(),
  };
}

export const NO_DIFFERENCE = { missing: [], unexpected: [], duplicated: [] };

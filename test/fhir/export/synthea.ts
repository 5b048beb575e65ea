import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import type { Bundle } from 'fhir/r4';
import type { TestApp } from '../../helpers/test-app';

/** ../shared/fixtures/synthea/smart-generated-sample-data: self-contained patient transaction bundles. */
export const SYNTHEA_DIR = path.join(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'synthea', 'smart-generated-sample-data');

export function syntheaAvailable(): boolean {
  return fs.existsSync(SYNTHEA_DIR);
}

/** The `n` smallest bundles (quick to load), parsed. */
export function smallestBundles(n: number): Bundle[] {
  const files = fs
    .readdirSync(SYNTHEA_DIR)
    .filter((f) => f.endsWith('.json.gz'))
    .map((f) => path.join(SYNTHEA_DIR, f))
    .sort((a, b) => fs.statSync(a).size - fs.statSync(b).size || a.localeCompare(b))
    .slice(0, n);
  return files.map((f) => JSON.parse(zlib.gunzipSync(fs.readFileSync(f)).toString('utf8')) as Bundle);
}

/** One bundle by the start of its file name (e.g. `Abdul_Koepp`), parsed. */
export function bundleNamed(prefix: string): Bundle {
  const file = fs.readdirSync(SYNTHEA_DIR).find((f) => f.startsWith(prefix));
  if (!file) throw new Error(`no Synthea bundle named ${prefix}*`);
  return JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(SYNTHEA_DIR, file))).toString('utf8')) as Bundle;
}

/** Resources per type in the bundles: the oracle the tests compare with. */
export function countByType(bundles: Bundle[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const b of bundles) for (const e of b.entry ?? []) counts[e.resource!.resourceType] = (counts[e.resource!.resourceType] ?? 0) + 1;
  return counts;
}

/**
 * POSTs each bundle as a transaction (http.html#transaction) and returns,
 * per bundle, the server ids by `urn:uuid` fullUrl.
 */
export async function loadBundles(t: TestApp, bundles: Bundle[]): Promise<Map<string, string>[]> {
  const maps: Map<string, string>[] = [];
  for (const b of bundles) {
    const res = await t.http.post('/fhir').set('Content-Type', 'application/fhir+json').send(b);
    if (res.status !== 200) throw new Error(`transaction failed: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
    const ids = new Map<string, string>();
    (res.body.entry ?? []).forEach((e: any, i: number) => {
      const m = /([A-Za-z]+)\/([^/]+)\/_history/.exec(e.response?.location ?? '');
      if (m) ids.set(b.entry![i].fullUrl!, `${m[1]}/${m[2]}`);
    });
    maps.push(ids);
  }
  return maps;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

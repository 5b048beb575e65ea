import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import type { Bundle, Resource } from 'fhir/r4';

/** ../shared/fixtures/synthea (resolved from the repository root). */
export const SYNTHEA_ROOT = path.join(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'synthea');

export function syntheaPresent(): boolean {
  const ok = fs.existsSync(SYNTHEA_ROOT);
  if (!ok) console.warn(`skipping: Synthea fixtures not found at ${SYNTHEA_ROOT}`);
  return ok;
}

/** Patient bundle files of a set, smallest first (deterministic). */
export function patientBundleFiles(set: string, n: number): string[] {
  const dir = path.join(SYNTHEA_ROOT, set);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json.gz') && !/Information/.test(f))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(a).size - fs.statSync(b).size || a.localeCompare(b))
    .slice(0, n);
}

export function readBundle(file: string): Bundle {
  return JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8')) as Bundle;
}

/**
 * The bundle's resources with ids from their `urn:uuid:` fullUrls and every
 * `urn:uuid:` reference rewritten to `Type/id`, as a server stores them after
 * a transaction (conditional references to practitioners/organizations are left as they are).
 */
export function resourcesOf(bundle: Bundle): Resource[] {
  const ids = new Map<string, string>();
  for (const e of bundle.entry ?? []) {
    if (e.fullUrl?.startsWith('urn:uuid:') && e.resource) ids.set(e.fullUrl, `${e.resource.resourceType}/${e.fullUrl.slice(9)}`);
  }
  const text = JSON.stringify((bundle.entry ?? []).map((e) => e.resource)).replace(/"reference":"(urn:uuid:[0-9a-f-]+)"/g, (m, u) =>
    ids.has(u) ? `"reference":"${ids.get(u)}"` : m,
  );
  const resources = JSON.parse(text) as Resource[];
  (bundle.entry ?? []).forEach((e, i) => {
    if (e.fullUrl?.startsWith('urn:uuid:')) resources[i].id = e.fullUrl.slice(9);
  });
  return resources;
}

import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import type { Bundle, Observation } from 'fhir/r4';
import type { TestApp } from '../../helpers/test-app';

/**
 * Fixtures and the independent oracle for test/fhir/operations/lastn-oracle.e2e-spec.ts.
 * Nothing here asks the server anything but the transactions that load the data.
 */

export const SYNTHEA_ROOT = path.resolve(__dirname, '../../../../shared/fixtures/synthea');
export const SMART_DIR = path.join(SYNTHEA_ROOT, 'smart-generated-sample-data');

/** The first `n` patient bundles of smart-generated-sample-data in file-name order (empty when absent). */
export function firstBundleFiles(n: number): string[] {
  if (!fs.existsSync(SMART_DIR)) return [];
  return fs
    .readdirSync(SMART_DIR)
    .filter((f) => f.endsWith('.json.gz'))
    .sort()
    .slice(0, n);
}

export function readBundle(file: string): Bundle {
  return JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(SMART_DIR, file))).toString('utf8')) as Bundle;
}

/** One Observation of the fixture with the id the server gave it. */
export interface LoadedObs {
  id: string;
  resource: Observation;
}

export interface LoadedPatient {
  file: string;
  patientId: string;
  observations: LoadedObs[];
}

/**
 * POSTs the bundle to /fhir as a transaction (http.html#transaction) and maps each entry to the id
 * in its transaction-response `location` (entries of the response are in the request's order).
 */
export async function loadPatient(t: TestApp, file: string): Promise<LoadedPatient> {
  const bundle = readBundle(file);
  const res = await t.http.post('/fhir').set('Content-Type', 'application/fhir+json').send(bundle);
  if (res.status !== 200) throw new Error(`transaction ${file} failed: ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
  const entries = res.body.entry as { response?: { location?: string } }[];
  if (entries.length !== bundle.entry!.length) throw new Error(`transaction ${file}: ${entries.length} response entries for ${bundle.entry!.length}`);
  let patientId = '';
  const observations: LoadedObs[] = [];
  bundle.entry!.forEach((e, i) => {
    const m = /(?:^|\/)([A-Za-z]+)\/([^/]+)\/_history\//.exec(entries[i].response?.location ?? '');
    if (!m || m[1] !== e.resource!.resourceType) throw new Error(`entry ${i} of ${file}: location ${entries[i].response?.location}`);
    if (m[1] === 'Patient') patientId = m[2];
    if (m[1] === 'Observation') observations.push({ id: m[2], resource: e.resource as Observation });
  });
  if (!patientId) throw new Error(`${file} has no Patient`);
  return { file, patientId, observations };
}

/**
 * The group of an Observation as the operation documents it (lastn.operation.ts, README
 * "Patient/$everything and Observation/$lastn"): the first coding of Observation.code
 * (system|code), else its text.
 */
export function groupOf(o: Observation): string {
  const c = o.code.coding?.[0];
  return c?.code ? `${c.system ?? ''}|${c.code}` : `text:${(o.code.text ?? '').toLowerCase()}`;
}

/**
 * When the Observation was true (R4 Observation.effective[x]), else Observation.issued, in ms.
 * A Period counts by its end (else its start): the operation's documented choice; R4 leaves it open.
 */
export function timeOf(o: Observation): number {
  const raw = o.effectiveDateTime ?? o.effectiveInstant ?? o.effectivePeriod?.end ?? o.effectivePeriod?.start ?? o.issued;
  const ms = raw ? Date.parse(raw) : NaN;
  return Number.isNaN(ms) ? -Infinity : ms;
}

/**
 * R4 observation-operation-lastn.html: group by code, sort most recent to oldest, keep `max` per
 * group. Equal times are ordered by id (ascending), the operation's choice; the Synthea data used
 * here has no equal times within a group, so the answer does not hinge on it.
 * Returns group → ids, newest first.
 */
export function lastN(candidates: LoadedObs[], max: number): Map<string, string[]> {
  const groups = new Map<string, LoadedObs[]>();
  for (const c of candidates) groups.set(groupOf(c.resource), [...(groups.get(groupOf(c.resource)) ?? []), c]);
  const out = new Map<string, string[]>();
  for (const [k, list] of groups) {
    const sorted = [...list].sort((a, b) => timeOf(b.resource) - timeOf(a.resource) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    out.set(k, sorted.slice(0, max).map((x) => x.id));
  }
  return out;
}

/** Token match of `category=<code>` without a system: any coding of any category with that code. */
export function hasCategory(o: Observation, code: string): boolean {
  return (o.category ?? []).some((cc) => (cc.coding ?? []).some((c) => c.code === code));
}

/** Token match of `code=<system>|<code>`: any coding of Observation.code with that system and code. */
export function hasCode(o: Observation, system: string, code: string): boolean {
  return (o.code.coding ?? []).some((c) => c.system === system && c.code === code);
}

/** The group sizes of a patient, largest first (ties by key), to pick codes that make the check bite. */
export function groupsBySize(obs: LoadedObs[]): { key: string; size: number }[] {
  const sizes = new Map<string, number>();
  for (const o of obs) sizes.set(groupOf(o.resource), (sizes.get(groupOf(o.resource)) ?? 0) + 1);
  return [...sizes].map(([key, size]) => ({ key, size })).sort((a, b) => b.size - a.size || a.key.localeCompare(b.key));
}

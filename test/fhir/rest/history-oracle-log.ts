import * as fs from 'fs';
import * as path from 'path';

/**
 * The independent log of history-oracle.e2e-spec.ts: every version the test wrote, as the test
 * itself knows it (version numbers counted here, content built here), and the oracles computed
 * from it: what a history, `_since` or `_at` answer must hold (R4 http.html §3.1.0.11).
 */

export const R4_EXAMPLES = path.resolve(__dirname, '../../../../shared/fixtures/r4-examples');

/** 15 ordinary writable types: none read-only or special (AuditEvent, Binary, Bundle, Subscription). */
export const TYPES = [
  'AllergyIntolerance', 'CarePlan', 'Condition', 'Encounter', 'Immunization', 'Location', 'Medication', 'MedicationRequest',
  'Observation', 'Organization', 'Patient', 'Practitioner', 'Procedure', 'ServiceRequest', 'Substance',
];

/** The first `n` example files of each type in file-name order (deterministic), and the next ones as spares. */
export function pickExamples(n: number): { main: any[]; spare: any[] } {
  const files = fs.readdirSync(R4_EXAMPLES).filter((f) => f.endsWith('.json')).sort();
  const main: any[] = [];
  const spare: any[] = [];
  for (const type of TYPES) {
    const mine = files.filter((f) => f.startsWith(`${type}-`));
    const read = (f: string) => JSON.parse(fs.readFileSync(path.join(R4_EXAMPLES, f), 'utf8'));
    main.push(...mine.slice(0, n).map(read));
    spare.push(...mine.slice(n, n + 1).map(read));
  }
  return { main, spare };
}


export type Method = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** When the server stamped a version: known exactly (from the answer), or only bounded by the request's duration. */
export interface Stamp {
  lo: number;
  hi: number;
}

export interface Version {
  type: string;
  id: string;
  /** counted by the test: 1 + the number of earlier versions of type/id */
  versionId: number;
  method: Method;
  /** the HTTP status the interaction answered (entry.response.status in a Bundle) */
  status: number;
  deleted: boolean;
  /** the resource as written, without meta.versionId / meta.lastUpdated; undefined for a delete */
  content?: any;
  stamp: Stamp;
  via: 'rest' | 'transaction' | 'batch';
  /** what the write's answer said (checked against the log, not used as the oracle) */
  reported: { etag?: string; lastModified?: string; location?: string };
}

export const keyOf = (v: { type: string; id: string }) => `${v.type}/${v.id}`;
export const versionKey = (v: { type: string; id: string; versionId: number }) => `${v.type}/${v.id}/_history/${v.versionId}`;

/** JSON with object keys sorted: equality that ignores key order (the server may serialize meta first). */
export function canonical(x: unknown): string {
  return JSON.stringify(x, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v));
}

/** The resource without the server's meta.versionId and meta.lastUpdated (the comparison of vread and history). */
export function normalize(r: any): any {
  const c = JSON.parse(JSON.stringify(r));
  if (c.meta) {
    delete c.meta.versionId;
    delete c.meta.lastUpdated;
    if (!Object.keys(c.meta).length) delete c.meta;
  }
  return c;
}

export class VersionLog {
  readonly versions: Version[] = [];
  private readonly byKey = new Map<string, Version[]>();

  /** Appends the next version of type/id; the version number is the log's own count. */
  add(v: Omit<Version, 'versionId'>): Version {
    const list = this.byKey.get(keyOf(v)) ?? [];
    const full: Version = { ...v, versionId: list.length + 1, content: v.content && normalize(v.content) };
    list.push(full);
    this.byKey.set(keyOf(v), list);
    this.versions.push(full);
    return full;
  }

  keys(): string[] {
    return [...this.byKey.keys()];
  }

  of(key: string): Version[] {
    return this.byKey.get(key) ?? [];
  }

  current(key: string): Version | undefined {
    const l = this.of(key);
    return l[l.length - 1];
  }

  /** `_since` (http.html §3.1.0.11): versions created at or after the instant. */
  since(t: number): Version[] {
    return this.versions.filter((v) => decide(v.stamp, (x) => x >= t));
  }

  /**
   * `_at` (http.html §3.1.0.11): versions current at some point in [low, high]: version i is current
   * from its own lastUpdated until the next version's, so it overlaps when it began by `high` and was
   * not replaced by `low`. A deletion is a version too (the resource was deleted then).
   */
  at(low: number, high: number): Version[] {
    const out: Version[] = [];
    for (const list of this.byKey.values()) {
      list.forEach((v, i) => {
        const next = list[i + 1];
        if (decide(v.stamp, (x) => x <= high) && (!next || decide(next.stamp, (x) => x > low))) out.push(v);
      });
    }
    return out;
  }

  /** Whether every version's stamp is on one side of t (so an oracle at t does not depend on an unknown instant). */
  decidable(t: number): boolean {
    return this.versions.every((v) => !(v.stamp.lo < t && t <= v.stamp.hi) && !(v.stamp.lo <= t && t < v.stamp.hi));
  }
}

/** A predicate on an instant known only within [lo, hi]; throws when the bounds straddle it (a test-design error). */
function decide(s: Stamp, p: (x: number) => boolean): boolean {
  const a = p(s.lo);
  if (a !== p(s.hi)) throw new Error(`oracle undecidable for stamp [${new Date(s.lo).toISOString()}, ${new Date(s.hi).toISOString()}]`);
  return a;
}

/** Differences between a history entry and the version the log holds (empty: it matches). */
export function entryFindings(e: any, v: Version, base: string): string[] {
  const f: string[] = [];
  const where = versionKey(v);
  const eq = (what: string, got: unknown, want: unknown) => {
    if (canonical(got) !== canonical(want)) f.push(`${where}: ${what} ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
  };
  eq('fullUrl', e.fullUrl, `${base}/${v.type}/${v.id}`);
  eq('request.method', e.request?.method, v.method);
  eq('request.url', e.request?.url, v.method === 'POST' ? v.type : `${v.type}/${v.id}`);
  eq('response.etag', e.response?.etag, `W/"${v.versionId}"`);
  eq('response.status code', String(e.response?.status ?? '').split(' ')[0], String(v.status));
  const lm = Date.parse(e.response?.lastModified ?? '');
  if (!(lm >= v.stamp.lo && lm <= v.stamp.hi)) f.push(`${where}: response.lastModified ${e.response?.lastModified} outside the write's stamp`);
  if (v.deleted) eq('resource (a deletion has none)', e.resource, undefined);
  else {
    eq('resource', e.resource && normalize(e.resource), v.content);
    eq('resource.meta.versionId', e.resource?.meta?.versionId, String(v.versionId));
    eq('resource.meta.lastUpdated', e.resource?.meta?.lastUpdated, e.response?.lastModified);
  }
  return f;
}

/** The entry's version key as the server names it (fullUrl + etag). */
export function entryKey(e: any): string {
  const [type, id] = String(e.fullUrl).split('/').slice(-2);
  return `${type}/${id}/_history/${/^W\/"([0-9]+)"$/.exec(e.response?.etag ?? '')?.[1]}`;
}

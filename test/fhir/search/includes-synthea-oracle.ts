import type { TestApp } from '../../helpers/test-app';
import type { Created } from '../export/export-oracle-helpers';
import { evaluate, r4ParamsByType, SweepParam } from './r4-examples-sweep-values';

/**
 * The independent oracle of includes-synthea-oracle.e2e-spec.ts: _include / _revinclude (R4
 * search.html#include, #revinclude) computed from the Synthea fixtures as loaded (each `urn:uuid:`
 * reference rewritten to the server's `Type/id` by export-oracle-helpers' loadTransaction), the
 * elements a parameter reads taken from the official R4 SearchParameter expressions (fhirpath).
 * Nothing here asks the server anything; walkPages only reads the pages of a search.
 */

/** One `_include` / `_revinclude` value: `Source:param[:Target]`, `Source:*`, or `*` (every type, every parameter). */
export interface IncludeSpec {
  reverse: boolean;
  iterate: boolean;
  source: string;
  param: string;
  target?: string;
}

/** The include specs of a query string (`_include`, `_include:iterate`, `_revinclude`, `_revinclude:iterate`). */
export function specsOf(query: string): IncludeSpec[] {
  const out: IncludeSpec[] = [];
  for (const [k, v] of new URLSearchParams(query)) {
    const m = /^_(rev)?include(:iterate)?$/.exec(k);
    if (!m) continue;
    const [source, param = '*', target] = v === '*' || v === '*:*' ? ['*', '*'] : v.split(':');
    out.push({ reverse: !!m[1], iterate: !!m[2], source, param, target });
  }
  return out;
}

const LITERAL = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

export class IncludeOracle {
  readonly byKey = new Map<string, Created>();
  private readonly byType = new Map<string, Created[]>();
  private readonly params = r4ParamsByType(new Set(['reference']));
  private readonly refCache = new Map<string, string[]>();

  constructor(created: Created[]) {
    for (const c of created) {
      this.byKey.set(c.key, c);
      this.byType.set(c.type, [...(this.byType.get(c.type) ?? []), c]);
    }
  }

  ofType(type: string): Created[] {
    return this.byType.get(type) ?? [];
  }

  /** The R4 reference parameters of a type (`*` of search.html#include: "all search parameters of type reference"). */
  referenceParams(type: string): SweepParam[] {
    return this.params(type);
  }

  /**
   * The loaded resources a resource refers to through parameter `code` of its type: the literal
   * references (`Type/id`) its expression selects that name a loaded resource (contained `#x` and
   * absent targets cannot be included).
   */
  refs(c: Created, code: string): string[] {
    const cacheKey = `${c.key}|${code}`;
    let out = this.refCache.get(cacheKey);
    if (!out) {
      const params = this.params(c.type).filter((p) => p.code === code);
      if (!params.length) throw new Error(`no R4 reference parameter ${c.type}:${code}`);
      const set = new Set<string>();
      for (const p of params) {
        for (const v of evaluate(p.expression, c.expected)) {
          const ref = v.type === 'Reference' ? v.value?.reference : undefined;
          if (typeof ref === 'string' && LITERAL.test(ref) && this.byKey.has(ref)) set.add(ref);
        }
      }
      out = [...set];
      this.refCache.set(cacheKey, out);
    }
    return out;
  }

  /** Matches of `[type]?[code]=[ref]` (a reference search by literal `Type/id`). */
  referring(type: string, code: string, ref: string): Created[] {
    return this.ofType(type).filter((c) => this.refs(c, code).includes(ref));
  }

  private forward(c: Created, s: IncludeSpec): string[] {
    if (s.source !== '*' && c.type !== s.source) return [];
    const codes = s.param === '*' ? this.referenceParams(c.type).map((p) => p.code) : [s.param];
    return codes.flatMap((code) => this.refs(c, code)).filter((k) => !s.target || k.startsWith(`${s.target}/`));
  }

  private reverse(frontier: Set<string>, s: IncludeSpec): string[] {
    const types = s.source === '*' ? [...this.byType.keys()] : [s.source];
    const out: string[] = [];
    for (const type of types) {
      const codes = s.param === '*' ? this.referenceParams(type).map((p) => p.code) : [s.param];
      for (const c of this.ofType(type)) {
        const hit = codes.some((code) => this.refs(c, code).some((k) => frontier.has(k) && (!s.target || k.startsWith(`${s.target}/`))));
        if (hit) out.push(c.key);
      }
    }
    return out;
  }

  /**
   * The include entries for a set of matches (search.html#include): the resources the matches refer
   * to (_include) or that refer to them (_revinclude) through the named parameters; `:iterate` ones
   * applied again to what was included until nothing new comes (search.html: "repeated ... on the
   * included resources"). A match is never also an include (a resource appears once in a Bundle).
   */
  includes(matchKeys: string[], specs: IncludeSpec[]): Set<string> {
    const seen = new Set(matchKeys);
    const out = new Set<string>();
    let frontier = [...matchKeys];
    for (let round = 0; frontier.length && round < 20; round++) {
      const added: string[] = [];
      const frontierSet = new Set(frontier);
      for (const s of specs.filter((x) => round === 0 || x.iterate)) {
        const found = s.reverse ? this.reverse(frontierSet, s) : frontier.flatMap((k) => this.forward(this.byKey.get(k)!, s));
        for (const k of found) {
          if (seen.has(k)) continue;
          seen.add(k);
          added.push(k);
          out.add(k);
        }
      }
      frontier = added;
    }
    return out;
  }
}

export interface Page {
  bundle: any;
  matches: string[];
  includes: string[];
  /** every entry's Type/id in entry order (for the duplicate check) */
  all: string[];
}

const keyOf = (e: any) => `${e.resource.resourceType}/${e.resource.id}`;

/** GET /fhir/[path] and every `next` link to the end (search.html#paging). */
export async function walkPages(t: TestApp, path: string): Promise<Page[]> {
  const pages: Page[] = [];
  let url: string | undefined = `/fhir/${path}`;
  while (url) {
    const res = await t.http.get(url);
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 400)}`);
    const entries: any[] = res.body.entry ?? [];
    pages.push({
      bundle: res.body,
      matches: entries.filter((e) => e.search?.mode === 'match').map(keyOf),
      includes: entries.filter((e) => e.search?.mode === 'include').map(keyOf),
      all: entries.map(keyOf),
    });
    const next = res.body.link?.find((l: any) => l.relation === 'next');
    url = next ? next.url.replace(t.baseUrl, '/fhir') : undefined;
    if (pages.length > 500) throw new Error(`${path}: more than 500 pages`);
  }
  return pages;
}

export const sortedKeys = (xs: Iterable<string>) => [...xs].sort();

/** Entries that occur more than once in a list. */
export function duplicates(xs: string[]): string[] {
  const seen = new Set<string>();
  return xs.filter((x) => (seen.has(x) ? true : (seen.add(x), false)));
}

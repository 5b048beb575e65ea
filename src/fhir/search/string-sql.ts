import { KIND } from './index-tables';
import { indexedPrefix, MAX_INDEXED_STRING, normalizeString, prefixUpperBound } from './normalize';
import type { ParamValue } from './search-query';

/** What a string condition is rendered with (ValueSql). */
export interface StringScope {
  /** the row's kind and parameter: `x.kind = 's' AND x.phash = …` */
  ph: string;
  /** binds a text value */
  text: (v: string) => string;
  /** the index table (search_index, or search_index_contained) */
  table: string;
  contained: boolean;
}

const M = MAX_INDEXED_STRING;

/**
 * search.html#string on the string rows `x`: prefix, `:exact`, `:contains`, case and accent insensitive;
 * `match` (from `_filter`): the whole normalized value, or its end.
 *
 * A string row holds the first MAX_INDEXED_STRING normalized characters (a btree key stays small); a
 * longer string also has a row of kind `l` holding it whole (search-indexer.ts). Each condition keeps its
 * index-only form on the string rows, and only a row of exactly MAX_INDEXED_STRING characters (readable
 * from the index: the string may go on) also looks at the long rows of its resource and parameter, by
 * resource id (the resource's index) and phash (which encodes type and parameter). Data indexed before
 * long rows existed has none: it answers as it did (on the first characters) until reindexed.
 */
export function stringCondition(x: string, sc: StringScope, value: string, modifier?: string, match?: ParamValue['match']): string {
  const norm = normalizeString(value);
  const head = indexedPrefix(norm);
  const long = head !== norm;
  const t = sc.text;
  /** a long row of x's resource and parameter whose whole value `cond` holds for (`l.value`) */
  const whole = (cond: (v: string) => string) => {
    const l = `${x}l`;
    const type = sc.contained ? ` AND ${l}.resource_type = ${x}.resource_type` : '';
    return `EXISTS (SELECT 1 FROM ${sc.table} ${l} WHERE ${l}.resource_id = ${x}.resource_id${type} AND ${l}.kind = '${KIND.long}' AND ${l}.phash = ${x}.phash AND ${cond(`${l}.value`)})`;
  };
  const cut = `length(${x}.value) = ${M}`;
  /** x is the first characters of a longer string (of exactly MAX_INDEXED_STRING characters otherwise) */
  const truncated = () => whole((v) => `left(${v}, ${M}) = ${x}.value`);
  if (modifier === 'exact') return `(${sc.ph} AND ${x}.value = ${t(head)} AND coalesce(${x}.exact, ${x}.value) = ${t(value)})`;
  if (modifier === 'contains') {
    const pattern = '%' + likeEscape(norm) + '%';
    if (long) return `(${sc.ph} AND ${cut} AND ${whole((v) => `${v} LIKE ${t(pattern)}`)})`;
    const p = t(pattern);
    return `(${sc.ph} AND (${x}.value LIKE ${p} OR (${cut} AND ${whole((v) => `${v} LIKE ${p}`)})))`;
  }
  if (match === 'equals') {
    if (long) return `(${sc.ph} AND ${x}.value = ${t(head)} AND ${whole((v) => `${v} = ${t(norm)}`)})`;
    // a value of exactly MAX_INDEXED_STRING characters: the string row of a longer string holds it too
    if ([...norm].length === M) return `(${sc.ph} AND ${x}.value = ${t(norm)} AND NOT ${truncated()})`;
    return `(${sc.ph} AND ${x}.value = ${t(norm)})`;
  }
  if (match === 'suffix') {
    const pattern = '%' + likeEscape(norm);
    if (long) return `(${sc.ph} AND ${cut} AND ${whole((v) => `${v} LIKE ${t(pattern)}`)})`;
    const p = t(pattern);
    return `(${sc.ph} AND ((${x}.value LIKE ${p} AND NOT (${cut} AND ${truncated()})) OR (${cut} AND ${whole((v) => `${v} LIKE ${p}`)})))`;
  }
  if (long) return `(${sc.ph} AND ${x}.value = ${t(head)} AND ${whole((v) => `${v} >= ${t(norm)} AND ${v} < ${t(prefixUpperBound(norm))}`)})`;
  return `(${sc.ph} AND ${x}.value >= ${t(norm)} AND ${x}.value < ${t(prefixUpperBound(norm))})`;
}

export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (m) => '\\' + m);
}

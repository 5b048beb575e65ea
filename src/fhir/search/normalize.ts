import { digest } from '../../digest';

/**
 * Longest normalized string kept in the string index (btree keys must stay small), in characters
 * (code points, as PostgreSQL's length() counts them). A longer one is also indexed whole, in a
 * row of its own (`KIND.long`, see string-sql.ts).
 */
export const MAX_INDEXED_STRING = 200;

/**
 * Search normalization of strings (search.html §2.1.1.6 string: case- and
 * accent-insensitive): NFD, combining marks removed, lower-cased, whitespace
 * collapsed. Done in application code so PostgreSQL and the embedded
 * database give the same answers.
 */
export function normalizeString(value: string): string {
  // most values are plain ASCII: no Unicode decomposition needed
  const folded = ASCII.test(value) ? value.toLowerCase() : value.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
  return SPACE_RUN.test(folded) ? folded.replace(/\s+/g, ' ').trim() : folded;
}

const ASCII = /^[\x20-\x7e]*$/;
/** a run of whitespace other than single inner spaces, or space at either end */
const SPACE_RUN = /\s\s|[^\S ]|^\s|\s$/;

/** The normalized value as stored in the string index (bounded length): its first MAX_INDEXED_STRING characters (code points: a surrogate pair is not split). */
export function indexedPrefix(norm: string): string {
  if (norm.length <= MAX_INDEXED_STRING) return norm;
  let i = 0;
  for (let n = 0; n < MAX_INDEXED_STRING && i < norm.length; n++) i += (norm.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
  return norm.slice(0, i);
}

/**
 * The 64-bit key of the index hash columns, identical to the SQL function
 * `search_hash(text)` of the SearchIndex migration: the first 64 bits of the
 * MD5 of the UTF-8 text, as a signed bigint (decimal string for `pg`).
 */
export function searchHash(text: string): string {
  let h = hashCache.get(text);
  if (h === undefined) {
    h = digest('md5', text).readBigInt64BE(0).toString();
    // the same `type|param` and common codes recur in every query: keep a bounded memo
    if (text.length <= 200) {
      if (hashCache.size >= 50_000) hashCache.clear();
      hashCache.set(text, h);
    }
  }
  return h;
}

const hashCache = new Map<string, string>();

/** Words for full-text search: normalized, split on anything that is not a letter or digit. */
export function words(text: string): string[] {
  return normalizeString(text)
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0 && w.length <= 100);
}

/** A tsvector literal of distinct lexemes ('simple' semantics, already normalized), at most `max`. */
export function tsvectorLiteral(lexemes: Iterable<string>, max = 400): string | undefined {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const w of lexemes) {
    if (seen.has(w)) continue;
    seen.add(w);
    out.push(`'${w.replace(/'/g, "''").replace(/\\/g, '\\\\')}'`);
    if (out.length >= max) break;
  }
  return out.length ? out.join(' ') : undefined;
}

/** The smallest string greater than every string starting with `prefix` (C collation), for prefix ranges. */
export function prefixUpperBound(prefix: string): string {
  return prefix + '\u{10FFFF}';
}

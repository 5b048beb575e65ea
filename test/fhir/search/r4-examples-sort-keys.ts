import { evaluate, RELATIVE, SweepParam, Typed } from './r4-examples-sweep-values';

/**
 * The sort keys of a parameter on an example (r4-examples-references.e2e-spec.ts), from its values evaluated
 * with the `fhirpath` package (r4-examples-sweep-values.ts), none of the server's code. search.html#sort (R4
 * 3.1.1.5.1): "A search parameter can refer to an element that repeats, and therefore there can be multiple
 * values for a given search parameter for a single resource. In this case, the sort is based on the item in
 * the set of multiple parameters that comes earliest in the specified sort order": ascending by the lowest
 * value, descending by the highest. A value is an interval [low, high] (a date at its precision, a Period, a
 * Range; a scalar is both ends): ascending compares the lowest `low`, descending the highest `high`.
 */
export type Key = number | string;

export interface SortKeys {
  low: Key;
  high: Key;
}

/**
 * Strings compare by their UTF-8 bytes (code point order: the index's `COLLATE "C"`, which the spec leaves
 * open: "does not specify exact rules for consistency of sorting across servers"); numbers numerically.
 */
export function compareKeys(a: Key, b: Key): number {
  if (typeof a === 'number' && typeof b === 'number') return a === b ? 0 : a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
}

const QUANTITIES = new Set(['Quantity', 'Age', 'Duration', 'Distance', 'Count', 'SimpleQuantity', 'MoneyQuantity', 'Money']);

/**
 * search.html#sort: "When sorting on string search parameters, sorting SHOULD be performed on a
 * case-insensitive basis. Accents may either be ignored": lower case, accents removed, runs of white space
 * one space (trimmed). The values of a HumanName or Address are the parts search.html#string searches.
 */
const folded = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
const NAME_PARTS = ['text', 'family', 'given', 'prefix', 'suffix'];
const ADDRESS_PARTS = ['text', 'line', 'city', 'district', 'state', 'postalCode', 'country'];

function strings({ type, value: v }: Typed): string[] {
  const parts = type === 'HumanName' ? NAME_PARTS : type === 'Address' ? ADDRESS_PARTS : undefined;
  const raw = parts ? parts.flatMap((p) => v[p] ?? []) : typeof v === 'string' ? [v] : [];
  return raw.map(folded).filter((s: string) => s !== '');
}

/** search.html#token: a Coding's code, an Identifier's or ContactPoint's value, a primitive as it is (sorted by the code). */
function tokens({ type, value: v }: Typed): string[] {
  if (type === 'CodeableConcept') return (v.coding ?? []).flatMap((c: any) => tokens({ type: 'Coding', value: c }));
  const code = type === 'Coding' ? v.code : type === 'Identifier' || type === 'ContactPoint' ? v.value : typeof v === 'object' ? undefined : v;
  return code === undefined || code === null || code === '' ? [] : [String(code)];
}

/**
 * search.html#reference: a relative reference as `Type/id`, an absolute one or a canonical as written;
 * search.html#versions: a canonical `url|version` is also its `url`. Contained (`#id`) and logical ones: none.
 */
function references({ type, value: v }: Typed): string[] {
  const raw = type === 'Reference' ? v.reference : type === 'canonical' ? v : undefined;
  if (typeof raw !== 'string' || raw === '' || raw.startsWith('#')) return [];
  return RELATIVE.exec(raw)?.[1] ? [RELATIVE.exec(raw)![1]] : withUrl(raw);
}

const withUrl = (s: string) => (s.indexOf('|') > 0 ? [s, s.slice(0, s.indexOf('|'))] : [s]);

/** search.html#uri, #versions: the value, a canonical `url|version` also as `url`, a resource's own `url` also as `url|version`. */
function uris({ value: v }: Typed, resource: any): string[] {
  if (typeof v !== 'string' || v === '') return [];
  return v === resource.url && typeof resource.version === 'string' ? [v, `${v}|${resource.version}`] : withUrl(v);
}

export const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * search.html#date: a value of lower precision is the range it covers (`2013-04`: all of April); a time
 * without a zone is read as UTC (the server's zone). Milliseconds, [first, last].
 */
export function dateRange(s: string): [number, number] | undefined {
  const m = DATE.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, tz] = m;
  const offset = !tz || tz === 'Z' ? 0 : (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4))) * 60_000;
  const fields = [Number(y), mo ? Number(mo) - 1 : 0, d ? Number(d) : 1, Number(h ?? 0), Number(mi ?? 0), Number(sec ?? 0), frac ? Math.floor(Number(frac) * 1000) : 0];
  // the last field given (hours come with minutes): one more of it is the first instant after the value
  const last = frac ? 6 : sec ? 5 : mi ? 4 : d ? 2 : mo ? 1 : 0;
  const at = (f: number[]) => Date.UTC(f[0], f[1], f[2], f[3], f[4], f[5], f[6]) - offset;
  const next = fields.map((f, i) => (i === last ? f + 1 : f));
  return [at(fields), at(next) - 1];
}

/** search.html#date: dates at their precision; a Period from its start to its end (an open end unbounded); a Timing's events and bounds. */
export function dates({ type, value: v }: Typed): [number, number][] {
  if (typeof v === 'string') return [dateRange(v)].filter((r): r is [number, number] => r !== undefined);
  if (type === 'Period') {
    const start = typeof v.start === 'string' ? dateRange(v.start) : undefined;
    const end = typeof v.end === 'string' ? dateRange(v.end) : undefined;
    return start || end ? [[start?.[0] ?? -Infinity, end?.[1] ?? Infinity]] : [];
  }
  if (type === 'Timing') {
    const bounds = v.repeat?.boundsPeriod ? dates({ type: 'Period', value: v.repeat.boundsPeriod }) : [];
    return [...(v.event ?? []).flatMap((e: string) => dates({ type: 'dateTime', value: e })), ...bounds];
  }
  return [];
}

/** search.html#number, #quantity: the number (a quantity's value, whatever its unit); a Range from low to high (an open end unbounded). */
function numbers({ type, value: v }: Typed): [number, number][] {
  if (typeof v === 'number') return [[v, v]];
  if (QUANTITIES.has(type) && typeof v.value === 'number') return [[v.value, v.value]];
  if (type !== 'Range') return [];
  const [low, high] = [v.low?.value, v.high?.value];
  return typeof low === 'number' || typeof high === 'number' ? [[low ?? -Infinity, high ?? Infinity]] : [];
}

const INTERVALS: Record<string, (t: Typed, resource: any) => [Key, Key][]> = {
  string: (t) => strings(t).map((s) => [s, s]),
  token: (t) => tokens(t).map((s) => [s, s]),
  reference: (t) => references(t).map((s) => [s, s]),
  uri: (t, r) => uris(t, r).map((s) => [s, s]),
  date: dates,
  number: numbers,
  quantity: numbers,
};

/** The lowest and highest key of a parameter's values on a resource; undefined when it has none. */
export function sortKeys(p: SweepParam, resource: any): SortKeys | undefined {
  const intervals = evaluate(p.expression, resource).flatMap((t) => INTERVALS[p.type](t, resource));
  if (!intervals.length) return undefined;
  const pick = (end: 0 | 1, sign: number) => intervals.map((i) => i[end]).reduce((a, b) => (sign * compareKeys(b, a) < 0 ? b : a));
  return { low: pick(0, 1), high: pick(1, -1) };
}

const DAY_MS = 24 * 3600_000;

/**
 * search.html#prefix (R4) on dates, target range [a, b] against the search value's range [sl, sh] (both
 * inclusive, ms): eq (or no prefix) "the range of the search value fully contains the range of the target
 * value"; ne "does not fully contain"; gt "the range above the search value intersects (i.e. overlaps) with
 * the range of the target value"; lt "the range below the search value intersects"; ge / le: gt / lt "or the
 * range of the search value fully contains the range of the target value"; sa "does not overlap with the
 * range of the target value, and the range above the search value contains the range of the target value";
 * eb the same below; ap: the search range widened by 10% of the distance to `now`, at least a day (README),
 * `undefined` within a minute of its edge (too close to call); po (search_filter.html "overlaps", `_filter`
 * only): the two ranges share an instant.
 */
export function datePrefixMatches(prefix: string, [a, b]: [number, number], [sl, sh]: [number, number], now = Date.now()): boolean | undefined {
  const eq = a >= sl && b <= sh;
  switch (prefix) {
    case '':
    case 'eq':
      return eq;
    case 'ne':
      return !eq;
    case 'gt':
      return b > sh;
    case 'lt':
      return a < sl;
    case 'ge':
      return b > sh || eq;
    case 'le':
      return a < sl || eq;
    case 'sa':
      return a > sh;
    case 'eb':
      return b < sl;
    case 'po':
      return a <= sh && b >= sl;
    case 'ap': {
      const widen = Math.max(Math.abs(now - sl) * 0.1, DAY_MS);
      const [wl, wh] = [sl - widen, sh + widen];
      if (Math.abs(a - wh) < 60_000 || Math.abs(b - wl) < 60_000) return undefined;
      return a <= wh && b >= wl;
    }
    default:
      throw new Error(`date prefix ${prefix}`);
  }
}

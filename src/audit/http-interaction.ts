import type { AuditAction } from './audit.types';
import { auditVersion } from './audit-values';

/** What a FHIR HTTP request was, as BALP records it. */
export interface HttpInteraction {
  /** restful-interaction code; for operations `operation` followed by `$name` */
  subtype: string[];
  action: AuditAction;
  entityType?: string;
  entityId?: string;
  entityVersion?: number;
  /** searches: the query string as received (and the form body of POST _search) */
  query?: string;
  /** Patient ids named by the URL (instance, compartment, search parameters) */
  patient: string[];
}

const TYPE_RE = /^[A-Z][A-Za-z]+$/;
const PATIENT_REF_RE = /(?:^|\/)Patient\/([A-Za-z0-9.-]{1,64})(?:$|\/)/;

const WRITE: Record<string, [string, AuditAction]> = {
  POST: ['create', 'C'],
  PUT: ['update', 'U'],
  PATCH: ['patch', 'U'],
  DELETE: ['delete', 'D'],
};

/**
 * Classifies a request under /fhir by method and path (http.html URL
 * patterns): `[base]/Type/id/_history/vid` is a vread, `[base]/Type?…` a
 * type search, and so on.
 */
export function classifyRequest(method: string, pathname: string, rawQuery: string, body: unknown, base = ''): HttpInteraction {
  const seg = pathname.split('/').filter(Boolean).map(safeDecode);
  const m = method === 'HEAD' ? 'GET' : method;
  const out: HttpInteraction = { subtype: ['read'], action: 'R', patient: [] };
  const search = (subtype: string) => {
    out.subtype = [subtype];
    out.action = 'E';
    out.query = searchQuery(rawQuery, m === 'POST' ? body : undefined);
    out.patient = patientsInQuery(rawQuery, m === 'POST' ? body : undefined, out.entityType, base);
  };
  const op = (name: string) => {
    out.subtype = ['operation', name];
    // DELETE on an operation URL removes what it names (the Bulk Data status URL cancels and deletes the job)
    out.action = m === 'DELETE' ? 'D' : 'E';
    // its parameters in the URL (`$export?_type=…`, the job and file of `$export-file`), never a body
    if (rawQuery) out.query = withoutSecrets(rawQuery) || undefined;
  };
  const write = () => {
    const [subtype, action] = WRITE[m] ?? ['read', 'R'];
    out.subtype = [subtype];
    out.action = action;
  };
  const [a, b, c, d] = seg;
  if (seg.length === 0) {
    if (m === 'POST') {
      const t = (body as { type?: string } | undefined)?.type;
      out.subtype = [t === 'batch' ? 'batch' : 'transaction'];
      out.action = 'E';
    } else search('search-system');
  } else if (a === 'metadata') {
    out.subtype = ['capabilities'];
  } else if (a === '_history') {
    out.subtype = ['history-system'];
  } else if (a === '_search') {
    search('search-system');
  } else if (a.startsWith('$')) {
    op(a);
  } else if (seg.length === 1) {
    out.entityType = a;
    if (m === 'GET') search('search-type');
    else {
      write();
      if (m !== 'POST') out.query = withoutSecrets(rawQuery) || undefined; // conditional update / patch / delete
    }
  } else {
    out.entityType = TYPE_RE.test(a) ? a : undefined;
    if (b === '_history') out.subtype = ['history-type'];
    else if (b === '_search') search('search-type');
    else if (b.startsWith('$')) op(b);
    else {
      out.entityId = b;
      if (a === 'Patient') out.patient = [b];
      if (seg.length === 2) {
        if (m === 'GET') out.subtype = ['read'];
        else write();
      } else if (c === '_history') {
        if (d !== undefined && /^[0-9]+$/.test(d)) {
          // a version named by the client: recorded only when it can be one (see auditVersion)
          out.entityVersion = auditVersion(d);
          if (seg[4]?.startsWith('$')) op(seg[4]); // an operation on that version (`$meta`)
          else if (m === 'GET') out.subtype = ['vread'];
          else write(); // refused (405), but attempted as what its method is
        } else out.subtype = ['history-instance'];
      } else if (c.startsWith('$')) op(c);
      else {
        // compartment search: Patient/123/Observation. The compartment stays the entity; the type searched
        // is only in the path, so the query recorded is the request relative to the base (BALP: the search
        // as received), `Patient/123/Observation?code=x`
        const patient = out.patient;
        search('search-type');
        const compartment = pathname.replace(/^\/+/, '');
        out.query = out.query ? `${compartment}?${out.query}` : compartment;
        out.patient = [...new Set([...patient, ...out.patient])];
      }
    }
  }
  return out;
}

/**
 * Credentials a client may put in a URL or form by mistake or by habit: a bearer token (RFC 6750
 * §2.3), OAuth client and grant secrets (RFC 6749 §2.3.1, §4.1.3, §6; RFC 7523), a password. None
 * is a FHIR search parameter; never into the audit trail. (`code` is: `Observation?code=…`. At
 * /auth, where it is an authorization code, no query is recorded.)
 */
const SECRET_PARAMS = new Set(['access_token', 'refresh_token', 'id_token', 'client_secret', 'client_assertion', 'password']);
/** cheap pre-check: a query naming none of them (even percent-encoded, `access%5Ftoken`) is kept as is */
const MAYBE_SECRET = /token|secret|assertion|password|%/i;

function isSecret(name: string): boolean {
  return SECRET_PARAMS.has(safeDecode(name).toLowerCase());
}

function withoutSecrets(rawQuery: string): string {
  if (!MAYBE_SECRET.test(rawQuery)) return rawQuery;
  return rawQuery
    .split('&')
    .filter((p) => !isSecret(p.split('=')[0].replace(/\+/g, ' ')))
    .join('&');
}

/** The query of a search: the URL query string, and for POST _search the form body too. */
function searchQuery(rawQuery: string, body: unknown): string | undefined {
  const query = withoutSecrets(rawQuery);
  const parts = query ? [query] : [];
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      if (isSecret(k)) continue;
      for (const x of Array.isArray(v) ? v : [v]) form.append(k, String(x));
    }
    const text = form.toString();
    if (text) parts.push(text);
  }
  return parts.length ? parts.join('&') : undefined;
}

/**
 * The id of a Patient of this server named by `value`: `Patient/x` (also versioned) or `[base]/Patient/x`;
 * undefined for anything else (a Patient of another server is none of this server's).
 */
export function localPatientId(value: string, base: string): string | undefined {
  const ref = PATIENT_REF_RE.exec(value);
  if (!ref) return undefined;
  return ref.index === 0 || (base !== '' && ref.index === base.length && value.startsWith(`${base}/`)) ? ref[1] : undefined;
}

/**
 * Patients named by search parameters (BALP PatientQuery: a Patient id as a query parameter): any
 * `Patient/x` reference value, `patient=x`, a reference typed by the modifier (`subject:Patient=x`),
 * and `_id` of a Patient search.
 */
function patientsInQuery(rawQuery: string, body: unknown, type: string | undefined, base: string): string[] {
  const found = new Set<string>();
  for (const [k, v] of new URLSearchParams(searchQuery(rawQuery, body) ?? '')) {
    // a plain id names a Patient only for these (not `patient.name=x`, `patient:identifier=x`)
    const byId = k === 'patient' || (k.endsWith(':Patient') && !k.includes('.')) || (type === 'Patient' && k === '_id');
    for (const value of v.split(',')) {
      if (PATIENT_REF_RE.test(value)) {
        const id = localPatientId(value, base);
        if (id) found.add(id);
      } else if (byId && /^[A-Za-z0-9.-]{1,64}$/.test(value)) found.add(value);
    }
  }
  return [...found];
}

/** every `reference` and `fullUrl` value, whitespace allowed around the colon (as `_pretty` output has it) */
const PATIENT_IN_BODY_RE = /"(reference|fullUrl)"\s*:\s*"([^"]*)"/g;
/**
 * a body that is a Patient (stored JSON keeps `resourceType`, `id` first). Apart from the scan: an
 * alternative not starting with `"` in it would cost the scan its quick search for `"` (2.4× slower)
 */
const PATIENT_BODY_RE = /^\s*\{\s*"resourceType"\s*:\s*"Patient"\s*,\s*"id"\s*:\s*"([A-Za-z0-9.-]{1,64})"/;
const HISTORY_RE = /^\/_history\/[0-9]+$/;
const ID_RE = /^[A-Za-z0-9.-]{1,64}$/;

/**
 * The Patients of this server a response or stored body concerns (BALP: one Patient entity per Patient
 * the data is about), found in one linear scan without parsing:
 * - a body that is a Patient (stored JSON keeps `resourceType`, `id` first);
 * - a reference to a Patient of this server: relative `Patient/x`, versioned `Patient/x/_history/n`
 *   (→ x), absolute on this server's `base` (`[base]/Patient/x`);
 * - an entry of a Bundle whose `fullUrl` is a Patient on `base` (search and history results).
 * Not: a contained resource's local id (`#p1`, a contained Patient is part of its container), references
 * to other servers (an absolute URL on another base; a relative reference inside a Bundle entry whose
 * `fullUrl` is on another base, bundle.html#references: the entry's `fullUrl` precedes its resource,
 * as the server writes it and the R4 examples have it), `urn:uuid:` references, identifiers and
 * canonicals. Bounded: at most `max` ids.
 */
export function patientsInBody(text: string, base: string, max = 100): string[] {
  if (text.indexOf('Patient') < 0) return [];
  const found = new Set<string>();
  const self = PATIENT_BODY_RE.exec(text);
  if (self) found.add(self[1]);
  const prefix = `${base}/`;
  /** relative references resolve on this server: outside any Bundle entry, or in one whose fullUrl is on this base or a URN */
  let local = true;
  PATIENT_IN_BODY_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = PATIENT_IN_BODY_RE.exec(text)) && found.size < max) {
    const value = m[2];
    const onBase = base !== '' && value.startsWith(prefix);
    if (m[1] === 'fullUrl') local = onBase || !(value.startsWith('http:') || value.startsWith('https:'));
    const rel = onBase ? value.slice(prefix.length) : m[1] === 'reference' && local ? value : undefined;
    if (rel === undefined || !rel.startsWith('Patient/')) continue;
    const end = rel.indexOf('/', 8);
    const id = end < 0 ? rel.slice(8) : rel.slice(8, end);
    if (ID_RE.test(id) && (end < 0 || HISTORY_RE.test(rel.slice(end)))) found.add(id);
  }
  return [...found];
}

function safeDecode(s: string): string {
  if (s.indexOf('%') < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

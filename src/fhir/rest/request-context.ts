import type { Request } from 'express';
import type { AuthContext } from '../../auth/auth-context';
import { badRequest } from '../errors';

export interface Prefer {
  return?: 'minimal' | 'representation' | 'OperationOutcome';
  handling?: 'strict' | 'lenient';
  respondAsync?: boolean;
}

/** What every interaction needs to know about the HTTP request. */
export interface RequestContext {
  /** `{PUBLIC_URL}/fhir` */
  baseUrl: string;
  requestId: string;
  prefer: Prefer;
  /** the caller's SMART authorization; undefined for internal calls (unrestricted) */
  auth?: AuthContext;
  /** client network address (audit) */
  remoteAddress?: string;
  /** audit state of the HTTP request (src/audit): set when a write stored its AuditEvent in its own statement */
  audit?: { recordedInStatement: boolean };
}

export function parsePrefer(header: string | undefined): Prefer {
  const prefer: Prefer = {};
  for (const part of (header ?? '').split(/[,;]/)) {
    const [k, v] = part.trim().split('=').map((s) => s?.trim().replace(/^"|"$/g, ''));
    if (k === 'return' && (v === 'minimal' || v === 'representation' || v === 'OperationOutcome')) prefer.return = v;
    if (k === 'handling' && (v === 'strict' || v === 'lenient')) prefer.handling = v;
    if (k === 'respond-async') prefer.respondAsync = true;
  }
  return prefer;
}

/** `W/"3"` or `"3"` → 3 */
export function parseETagVersion(header: string | undefined, name: string): number | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^\s*(?:W\/)?"([0-9]+)"\s*$/.exec(header);
  if (!m) throw badRequest(`${name} must be a version ETag like W/"3"`);
  return Number(m[1]);
}

export function header(req: Request, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

import type { NextFunction, Request, Response } from 'express';
import { authOf } from '../auth/auth-context';
import { agentOf, AuditService } from './audit.service';
import { auditVersion, failureDescription, isTokenRefusal } from './audit-values';
import type { AuditRecord } from './audit.types';
import { attachAuditScope } from './audit-scope';
import { bundleEntryEvents } from './bundle-entries';
import { holdResponse } from './hold-response';
import { classifyRequest, localPatientId, patientsInBody } from './http-interaction';

const SCAN_LIMIT = 4 * 1024 * 1024;

/**
 * Express middleware for /fhir, mounted before content negotiation and body
 * parsing so that every answer (including 401, 403, 406, 413, 415) is seen.
 * It holds back the response's first byte (`res.write` / `res.end`) until the
 * request's AuditEvent is durable; if it cannot be written the client gets
 * 503 instead of the data. Successful writes already stored their event in
 * their own statement (`AuditScope.recordedInStatement`) and pass through.
 */
export function auditMiddleware(audit: AuditService) {
  return function auditRequest(req: Request, res: Response, next: NextFunction): void {
    // discovery documents and CORS preflights are not accesses to data
    if (!audit.enabled || req.method === 'OPTIONS' || req.path.startsWith('/.well-known/')) return next();
    const scope = attachAuditScope(req);
    const url = req.originalUrl;
    // reads and searches will join the group commit: announced so that statements wait for them;
    // a write records its event in its own statement (only a failed one joins, unannounced)
    const arrived = joinsGroupCommit(req) ? audit.expectRecord() : undefined;
    if (arrived) res.once('close', arrived);
    holdResponse(req, res, (body) => {
      arrived?.();
      if (scope.skip || (scope.recordedInStatement && res.statusCode < 400)) return undefined;
      const events = requestEvents(req, res, url, body, audit.baseUrl);
      return events.length === 1 ? audit.record(events[0]) : Promise.all(events.map((e) => audit.record(e)));
    });
    next();
  };
}

/** A read, a search (GET, or POST to `_search`) or an operation answered by a read: audited through the group commit. */
export function joinsGroupCommit(req: Pick<Request, 'method' | 'path'>): boolean {
  return req.method === 'GET' || req.method === 'HEAD' || (req.method === 'POST' && req.path.endsWith('/_search'));
}

/** The AuditEvents of an HTTP request under /fhir: its own, and one per read (or failed) entry of a batch or transaction. */
export function requestEvents(req: Request, res: Response, url: string, body: unknown, base: string): AuditRecord[] {
  const text = typeof body === 'string' ? body : Buffer.isBuffer(body) && body.length < SCAN_LIMIT ? body.toString('utf8') : undefined;
  const event = requestEvent(req, res, url, text, base);
  const bundle = event.subtype[0] === 'batch' || event.subtype[0] === 'transaction';
  return bundle && event.outcome === 0 ? [event, ...bundleEntryEvents(event, req.body, text, base)] : [event];
}

/** The AuditEvent of an HTTP request under /fhir, from its URL, status, headers and body text (`base`: this server's FHIR base URL). */
export function requestEvent(req: Request, res: Response, url: string, text: string | undefined, base: string): AuditRecord {
  const q = url.indexOf('?');
  const pathname = (q < 0 ? url : url.slice(0, q)).replace(/^\/fhir(?=\/|$)/, '');
  const i = classifyRequest(req.method, pathname, q < 0 ? '' : url.slice(q + 1), req.body, base);
  const status = res.statusCode;
  const event: AuditRecord = {
    recorded: new Date(),
    type: 'rest',
    subtype: i.subtype,
    action: i.action,
    outcome: status < 400 ? 0 : status < 500 ? 4 : 8,
    ...agentOf(authOf(req)),
    network: req.ip ?? req.socket?.remoteAddress,
    requestId: (req as any).id ? String((req as any).id) : undefined,
    entityType: i.entityType,
    entityId: i.entityId,
    entityVersion: i.entityVersion,
    query: i.query,
    patient: i.patient,
  };
  const tokenRefused = isTokenRefusal(status, res.getHeader('WWW-Authenticate'));
  if (tokenRefused || status === 403) {
    // the resource server refused the token (401, or 400 for a malformed Authorization header) or the scope:
    // a security event as well as the interaction
    event.type = tokenRefused ? '110114' : '110113';
    event.subtype = [tokenRefused ? 'token-refused' : 'access-denied', ...i.subtype];
  }
  if (status >= 400) {
    event.outcomeDesc = describeFailure(status, text, tokenRefused || status === 403);
    return event;
  }
  if (status === 200 && req.method === 'POST' && i.subtype[0] === 'create') {
    // a conditional create that matched (http.html#ccreate): nothing was written, the match was disclosed
    event.action = 'R';
    event.outcomeDesc = 'conditional create matched an existing resource: nothing written';
  }
  if (!event.entityVersion) {
    const version = versionOf(res, event);
    if (version !== undefined) event.entityVersion = version;
  }
  if (event.entityType === 'Binary') {
    // a raw Binary names its Patient in X-Security-Context (http.html#binary), not in the bytes it sends
    const context = res.getHeader('X-Security-Context');
    const id = typeof context === 'string' ? localPatientId(context, base) : undefined;
    if (id && !event.patient.includes(id)) event.patient = [...event.patient, id];
  }
  // the CapabilityStatement (about 1 MB) names no patient: not worth a scan at every SMART launch
  if (text && text.length < SCAN_LIMIT && event.subtype[0] !== 'capabilities') {
    const found = patientsInBody(text, base);
    if (found.length) event.patient = [...new Set([...event.patient, ...found])];
  }
  return event;
}

/** Version (and for a create, the id) of the resource concerned, from `Location` or `ETag`. */
function versionOf(res: Response, event: AuditRecord): number | undefined {
  const location = res.getHeader('Location');
  if (typeof location === 'string') {
    const m = /\/([A-Za-z]+)\/([A-Za-z0-9.-]{1,64})\/_history\/([0-9]+)$/.exec(location);
    if (m && (!event.entityType || m[1] === event.entityType)) {
      event.entityType = m[1];
      event.entityId = m[2];
      return auditVersion(m[3]);
    }
  }
  const etag = res.getHeader('ETag');
  if (event.entityId && typeof etag === 'string') {
    const m = /^(?:W\/)?"([0-9]+)"$/.exec(etag);
    if (m) return auditVersion(m[1]);
  }
  return undefined;
}

/** The OperationOutcome answered, described without what the client submitted (`failureDescription`). */
function describeFailure(status: number, text: string | undefined, security: boolean): string {
  let issues: unknown;
  if (text && text.length < 65536) {
    try {
      issues = JSON.parse(text)?.issue;
    } catch {
      /* not JSON */
    }
  }
  return failureDescription(status, issues, security);
}

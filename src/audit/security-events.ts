import { AsyncLocalStorage } from 'async_hooks';
import type { NextFunction, Request, Response } from 'express';
import type { SecurityEvent as AuthEvent } from '../auth/auth-events';
import { logger } from '../logger';
import type { AuditService } from './audit.service';
import type { SecurityEvent, SecurityEventKind } from './audit.types';
import { holdResponse } from './hold-response';

interface AuthRequestScope {
  pending: Promise<void>[];
  /** a failure event was emitted: the refusal is recorded (else it is recorded from the status) */
  failureRecorded?: boolean;
  requestId?: string;
  network?: string;
}

/** The security events emitted while an /auth request is handled, so its response can wait for them. */
const requestScope = new AsyncLocalStorage<AuthRequestScope>();

const KINDS: Record<AuthEvent['type'], SecurityEventKind> = {
  login: 'login',
  'token-issued': 'token-issued',
  'token-refused': 'token-refused',
  'access-denied': 'access-denied',
  refresh: 'token-refreshed',
  revocation: 'token-revoked',
  'client-registration': 'client-registered',
  'launch-created': 'launch-created',
};

/** The auth module's event as the audit trail records it; undefined for the ones recorded elsewhere. */
export function fromAuthEvent(e: AuthEvent): SecurityEvent | undefined {
  // a refused /fhir request (401/403): the /fhir audit middleware records it, with the interaction
  if (e.request) return undefined;
  const kind = KINDS[e.type];
  if (!kind) return undefined;
  const details = [e.reason, e.grantType && `grant_type=${e.grantType}`, e.scope && `scope=${e.scope}`].filter(Boolean).join('; ');
  return {
    kind,
    success: e.outcome === 'success',
    description: details || undefined,
    clientId: e.clientId,
    username: e.username,
    fhirUser: e.fhirUser,
    tokenId: e.tokenId,
    patient: e.patient,
    registeredClientId: e.registeredClientId,
    network: e.address,
    requestId: e.requestId,
  };
}

/**
 * Subscriber for `AuthEvents`: records the event; inside an /auth request
 * the response waits until the row is durable (see `authAuditMiddleware`).
 */
export function recordAuthEvent(audit: AuditService, e: AuthEvent): Promise<void> | undefined {
  const event = fromAuthEvent(e);
  if (!event) return undefined;
  const scope = requestScope.getStore();
  if (scope) {
    event.requestId ??= scope.requestId;
    event.network ??= scope.network;
  }
  const recorded = audit.recordSecurityEvent(event);
  if (scope) {
    scope.pending.push(recorded);
    if (!event.success) scope.failureRecorded = true;
  }
  else recorded.catch((err) => logger.error({ err: err?.message, kind: event.kind }, 'security event could not be recorded'));
  return recorded;
}

/**
 * Middleware for the OAuth endpoints (/auth/*): the response leaves only
 * once the security events of the request are durable; a refusal that
 * emitted no failure event (a failed token request…) is recorded from its
 * status, also when the request emitted other events: a replayed refresh
 * token or authorization code ends its grant (a `token-revoked` success)
 * and is refused, and the refusal is the event that matters.
 */
export function authAuditMiddleware(audit: AuditService) {
  return function auditAuthRequest(req: Request, res: Response, next: NextFunction): void {
    if (!audit.enabled) return next();
    const scope: AuthRequestScope = { pending: [], requestId: (req as any).id ? String((req as any).id) : undefined, network: req.ip };
    holdResponse(req, res, (body) => {
      if (!scope.failureRecorded && res.statusCode >= 400) {
        scope.pending.push(audit.recordSecurityEvent(refusedRequest(req, res.statusCode, body, scope)));
      }
      return scope.pending.length ? Promise.all(scope.pending) : undefined;
    });
    requestScope.run(scope, next);
  };
}

/** A refused OAuth request, from its endpoint and OAuth error (never a secret: no password, code or token). */
function refusedRequest(req: Request, status: number, body: unknown, scope: AuthRequestScope): SecurityEvent {
  const endpoint = req.originalUrl.split('?')[0].replace(/\/+$/, '').split('/').pop();
  const kind: SecurityEventKind =
    endpoint === 'token' || endpoint === 'introspect'
      ? 'token-refused'
      : endpoint === 'login' || endpoint === 'authorize'
        ? 'login'
        : endpoint === 'revoke'
          ? 'token-revoked'
          : endpoint === 'register'
            ? 'client-registered'
            : 'access-denied';
  let reason = `HTTP ${status}`;
  const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : undefined;
  if (text && text.length < 8192 && text.startsWith('{')) {
    try {
      const err = JSON.parse(text);
      if (typeof err.error === 'string') reason = `${status}: ${err.error}${err.error_description ? `: ${err.error_description}` : ''}`;
    } catch {
      /* not an OAuth error body */
    }
  }
  const form = req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
  const grant = typeof form.grant_type === 'string' && /^[a-z_:.-]{1,80}$/i.test(form.grant_type) ? ` (grant_type=${form.grant_type})` : '';
  return {
    kind,
    success: false,
    description: `${req.method} ${endpoint}${grant}: ${reason}`,
    clientId: typeof form.client_id === 'string' ? form.client_id : basicAuthUser(req),
    username: typeof form.username === 'string' ? form.username : undefined,
    network: scope.network,
    requestId: scope.requestId,
  };
}

/** The client id of HTTP Basic client authentication (the secret is not kept). */
function basicAuthUser(req: Request): string | undefined {
  const h = req.headers.authorization;
  if (!h || !/^Basic /i.test(h)) return undefined;
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, i));
  } catch {
    return decoded.slice(0, i);
  }
}

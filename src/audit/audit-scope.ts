import type { Request } from 'express';

/**
 * Per-request audit state, created by the audit middleware and carried in
 * `RequestContext.audit`: a write that recorded its AuditEvent inside its own
 * statement sets `recordedInStatement`, so the response is not audited twice.
 */
export interface AuditScope {
  recordedInStatement: boolean;
  /** the handler audits this request itself (e.g. OAuth endpoints through recordSecurityEvent) */
  skip?: boolean;
}

const SCOPE = Symbol('auditScope');

export function attachAuditScope(req: Request): AuditScope {
  const scope: AuditScope = { recordedInStatement: false };
  (req as any)[SCOPE] = scope;
  return scope;
}

export function auditScopeOf(req: Request): AuditScope | undefined {
  return (req as any)[SCOPE];
}

/**
 * For routes under /fhir that record their own AuditEvent (an OAuth endpoint
 * calling `AuditService.recordSecurityEvent`): the middleware then records nothing.
 */
export function skipRequestAudit(req: Request): void {
  const scope = auditScopeOf(req);
  if (scope) scope.skip = true;
}

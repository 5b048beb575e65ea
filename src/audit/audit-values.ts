/** Largest version an AuditEvent records (`audit_event.entity_version` is an `integer`; FHIR versions here are 1, 2, …). */
export const MAX_VERSION = 2_147_483_647;

/**
 * A version number from a URL, `Location` or `ETag` as the audit trail records it: undefined unless
 * 1..MAX_VERSION. A client may name any version (`_history/99999999999`); recording it unchecked
 * failed the whole group-commit statement, and with it every request sharing it.
 */
export function auditVersion(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= MAX_VERSION ? n : undefined;
}

/** Security refusals: their diagnostics are the server's own words about the token, never submitted content. */
const SECURITY_STATUSES = new Set([401, 403]);

/**
 * A refusal by the resource server's bearer authentication: 401, or 400 `invalid_request` (RFC 6750
 * §3.1: a malformed Authorization header), told apart from other 400s by its `WWW-Authenticate`
 * challenge, which only the authentication sets. BALP: a failed authentication either way.
 */
export function isTokenRefusal(status: number, challenge: unknown): boolean {
  if (status === 401) return true;
  return status === 400 && typeof challenge === 'string' && /^Bearer\b.*\berror="invalid_request"/i.test(challenge);
}

/**
 * `outcomeDesc` of a failed interaction: the status and, per issue of its OperationOutcome, the
 * issue code and the elements concerned (`400: structure at Patient.birthDate`). Not the diagnostics:
 * validation and patch messages repeat the values submitted (`"John Q …" is not a valid date`), and
 * the audit trail never holds resource content. 401 and 403 keep theirs (which scope, which token problem),
 * and so does any other security refusal (`security`: a 400 `invalid_request` of the bearer authentication).
 */
export function failureDescription(status: number, issues: unknown, security = SECURITY_STATUSES.has(status)): string {
  const list = Array.isArray(issues) ? (issues as { code?: unknown; diagnostics?: unknown; expression?: unknown }[]) : [];
  const parts = list.flatMap((i) => {
    if (!i || typeof i !== 'object') return [];
    if (security && typeof i.diagnostics === 'string') return [i.diagnostics];
    const code = typeof i.code === 'string' ? i.code : 'error';
    const where = Array.isArray(i.expression) ? i.expression.filter((e) => typeof e === 'string') : [];
    return [where.length ? `${code} at ${where.join(', ')}` : code];
  });
  return truncate(parts.length ? `${status}: ${[...new Set(parts)].join('; ')}` : `HTTP ${status}`);
}

/** Free text as the audit trail stores it: at most `max` characters. */
export function truncate(text: string, max = 500): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

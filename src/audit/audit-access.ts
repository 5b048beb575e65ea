import type { AuthContext } from '../auth/auth-context';
import { FhirError } from '../fhir/errors';
import type { SqlParams } from '../fhir/storage/sql-params';
import { parseAuditSearch } from './audit-search';

/**
 * Who may see which AuditEvents, as one SQL predicate over `audit_event e`
 * (applied before the query runs, never by filtering results):
 * - no authorization (internal call) or an admin token (`AuthContext.admin`): everything;
 * - `system/AuditEvent.rs`: everything;
 * - `user/AuditEvent.rs`: the events where the user is the agent (a user with
 *   the admin role and no fhirUser: everything);
 * - `patient/AuditEvent.rs`: the events about the Patient in context (who
 *   accessed my record: the accounting of disclosures).
 * Wildcard scopes (`system/*.rs`) do not reach the audit trail: it must be
 * granted by name. Granular filters (`?action=R`) narrow a scope further.
 * Returns undefined when unrestricted; throws 403 when nothing is allowed.
 */
export function auditAccess(auth: AuthContext | undefined, interaction: 'r' | 's', p: SqlParams): string | undefined {
  if (!auth || auth.admin) return undefined;
  const alternatives: string[] = [];
  for (const rule of auth.rules) {
    if (rule.resourceType !== 'AuditEvent' || !rule.interactions.has(interaction)) continue;
    const parts: string[] = [];
    if (rule.context === 'patient') {
      if (!auth.patient) continue;
      parts.push(`(e.patient @> ${p.bind([auth.patient], 'text[]')} OR e.user_ref = ${p.bind(`Patient/${auth.patient}`, 'text')})`);
    } else if (rule.context === 'user' && !(auth.adminRole && !auth.fhirUser)) {
      if (!auth.fhirUser) continue;
      parts.push(`e.user_ref = ${p.bind(auth.fhirUser, 'text')}`);
    } // (a user with the admin role and no fhirUser: `user/AuditEvent.rs` is the whole trail, as the admin's user/ scopes are unbounded)
    if (rule.filter.length) parts.push(...parseAuditSearch(rule.filter, p).where);
    if (parts.length === 0) return undefined;
    alternatives.push(`(${parts.join(' AND ')})`);
  }
  if (alternatives.length === 0) {
    throw FhirError.of(403, 'forbidden', `the granted scopes do not allow ${interaction === 'r' ? 'reading' : 'searching'} AuditEvent`);
  }
  return `(${alternatives.join(' OR ')})`;
}

import type { AuthContext } from '../auth/auth-context';
import { FhirError } from '../fhir/errors';
import type { SqlParams } from '../fhir/storage/sql-params';
import { parseAuditSearch } from './audit-search';

/**
 * What a restricted caller may see of the trail (undefined from `auditAccess`: everything).
 * `where`: the rows visible. `patient`: set when some rows are visible only as events about
 * the Patient in context (`patient/AuditEvent.rs`); those are shown as BALP's per-patient
 * AuditEvent ("one AuditEvent for every Patient identified in the resulting search set"):
 * that Patient's entity only, never the other Patients the same request concerned. `full`: the
 * rows visible in full through another scope (`user/AuditEvent.rs`: what the user did), as SQL.
 */
export interface AuditAccess {
  where: string;
  patient?: string;
  full?: string;
}

/**
 * Who may see which AuditEvents, as SQL predicates over `audit_event e`
 * (applied before the query runs, never by filtering results):
 * - no authorization (internal call) or an admin token (`AuthContext.admin`): everything;
 * - `system/AuditEvent.rs`: everything;
 * - `user/AuditEvent.rs`: the events where the user is the agent (a user with
 *   the admin role and no fhirUser: everything);
 * - `patient/AuditEvent.rs`: the events about the Patient in context (who
 *   accessed my record: the accounting of disclosures), each as that Patient's own event.
 * Wildcard scopes (`system/*.rs`) do not reach the audit trail: it must be
 * granted by name. Granular filters (`?action=R`) narrow a scope further.
 * Throws 403 when nothing is allowed.
 */
export function auditAccess(auth: AuthContext | undefined, interaction: 'r' | 's', p: SqlParams): AuditAccess | undefined {
  if (!auth || auth.admin) return undefined;
  const full: string[] = [];
  const ofPatient: string[] = [];
  let granted = false;
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
    granted = true;
    if (parts.length === 0) return undefined;
    (rule.context === 'patient' ? ofPatient : full).push(`(${parts.join(' AND ')})`);
  }
  if (!granted) {
    throw FhirError.of(403, 'forbidden', `the granted scopes do not allow ${interaction === 'r' ? 'reading' : 'searching'} AuditEvent`);
  }
  const where = `(${[...full, ...ofPatient].join(' OR ')})`;
  if (!ofPatient.length) return { where };
  return { where, patient: auth.patient, full: full.length ? `(${full.join(' OR ')})` : undefined };
}

import type { Coding } from 'fhir/r4';
import type { SecurityEventKind } from './audit.types';

export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
export const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
/** this server's codes for security events that DICOM does not name */
export const SECURITY_EVENT = 'urn:fhir-r4-server:audit-security-event';

/**
 * `audit_event.entity_type` of an OAuth client as the entity of a security event (the client
 * registered; `entity_id` its client_id): lower case, never a resource type.
 */
export const CLIENT_ENTITY = 'client';

/** AuditEvent.type codes stored in `audit_event.type`. */
const TYPES: Record<string, Coding> = {
  rest: { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'Restful Operation' },
  '110113': { system: DCM, code: '110113', display: 'Security Alert' },
  '110114': { system: DCM, code: '110114', display: 'User Authentication' },
};

const INTERACTIONS = new Set([
  'read', 'vread', 'update', 'patch', 'delete', 'history', 'history-instance', 'history-type', 'history-system',
  'create', 'search', 'search-type', 'search-system', 'capabilities', 'transaction', 'batch', 'operation',
]);

/** DICOM names login and logout; the other security events use this server's code system. */
const SECURITY_SUBTYPES: Record<SecurityEventKind, Coding> = {
  login: { system: DCM, code: '110122', display: 'Login' },
  logout: { system: DCM, code: '110123', display: 'Logout' },
  'token-issued': { system: SECURITY_EVENT, code: 'token-issued', display: 'Access token issued' },
  'token-refused': { system: SECURITY_EVENT, code: 'token-refused', display: 'Token missing, invalid or refused' },
  'token-refreshed': { system: SECURITY_EVENT, code: 'token-refreshed', display: 'Token refreshed' },
  'token-revoked': { system: SECURITY_EVENT, code: 'token-revoked', display: 'Token revoked' },
  'access-denied': { system: SECURITY_EVENT, code: 'access-denied', display: 'Access denied' },
  'client-registered': { system: SECURITY_EVENT, code: 'client-registered', display: 'Client registered' },
  'launch-created': { system: SECURITY_EVENT, code: 'launch-created', display: 'EHR launch context created' },
  'audit-retention': { system: SECURITY_EVENT, code: 'audit-retention', display: 'Audit rows exported and removed' },
};

/** The stored subtype code for a security event (login and logout store their DICOM code). */
export function securitySubtypeCode(kind: SecurityEventKind): string {
  return SECURITY_SUBTYPES[kind].code!;
}

/** Login and logout are User Authentication; refused tokens too (401); the rest Security Alert. */
export function securityType(kind: SecurityEventKind): string {
  return kind === 'login' || kind === 'logout' || kind === 'token-refused' || kind === 'token-issued' || kind === 'token-refreshed'
    ? '110114'
    : '110113';
}

export function typeCoding(code: string): Coding {
  return TYPES[code] ?? { code };
}

export function subtypeCoding(code: string): Coding {
  if (INTERACTIONS.has(code)) return { system: RESTFUL_INTERACTION, code, display: code };
  const sec = Object.values(SECURITY_SUBTYPES).find((c) => c.code === code);
  if (sec) return sec;
  // `$export`: the operation invoked (subtype `operation` comes first)
  return { code, display: code.startsWith('$') ? `operation ${code}` : code };
}

/** The system a stored type/subtype code belongs to (token search with `system|code`). */
export function systemOf(code: string, field: 'type' | 'subtype'): string | undefined {
  return field === 'type' ? TYPES[code]?.system : subtypeCoding(code).system;
}

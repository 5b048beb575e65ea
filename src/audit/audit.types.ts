/** AuditEvent.action (R4 audit-event-action): Create, Read, Update, Delete, Execute. */
export type AuditAction = 'C' | 'R' | 'U' | 'D' | 'E';

/** AuditEvent.outcome (R4 audit-event-outcome): success, minor, serious, major failure. */
export type AuditOutcome = 0 | 4 | 8 | 12;

/**
 * One audit row as stored in `audit_event` (IHE BALP content, no resource
 * content, no token or password). Rendered as a FHIR AuditEvent by
 * `toAuditEvent`.
 */
export interface AuditRecord {
  recorded: Date;
  /** `rest`, or a DICOM security event type (`110113` Security Alert, `110114` User Authentication) */
  type: string;
  /** interaction code (restful-interaction) and/or security event code */
  subtype: string[];
  action: AuditAction;
  outcome: AuditOutcome;
  /** why it failed (OperationOutcome diagnostics), failures only */
  outcomeDesc?: string;
  /** the client application (OAuth client_id) */
  clientId?: string;
  /** the user as fhirUser (`Practitioner/dr-smith`) */
  userRef?: string;
  /** the user's login name */
  userName?: string;
  /** the access token's id (jti): BALP agent.policy; never the token */
  tokenId?: string;
  /** client network address */
  network?: string;
  /** X-Request-Id */
  requestId?: string;
  entityType?: string;
  entityId?: string;
  entityVersion?: number;
  /** search: the query string as received */
  query?: string;
  /** ids of the Patients the access concerns */
  patient: string[];
}

/** Security events recorded by the auth module (`AuditService.recordSecurityEvent`). */
export type SecurityEventKind =
  | 'login'
  | 'logout'
  | 'token-issued'
  | 'token-refused'
  | 'token-refreshed'
  | 'token-revoked'
  | 'access-denied'
  | 'client-registered'
  | 'launch-created'
  | 'audit-retention';

export interface SecurityEvent {
  kind: SecurityEventKind;
  /** false: outcome 4 (minor failure) with `description` */
  success: boolean;
  /** reason of a failure, in plain words; never a secret or token */
  description?: string;
  clientId?: string;
  username?: string;
  fhirUser?: string;
  /** jti of the token concerned (never the token itself) */
  tokenId?: string;
  /** Patient id in context (launch/patient) */
  patient?: string;
  /** a client registration: the client registered, an entity (the agent is `clientId`, who registered it) */
  registeredClientId?: string;
  /** client network address (e.g. `req.ip`) */
  network?: string;
  requestId?: string;
}

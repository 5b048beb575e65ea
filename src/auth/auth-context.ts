import type { Request } from 'express';

/** One SMART scope, parsed (v1 `.read/.write/.*` mapped to v2 letters). */
export interface ScopeRule {
  context: 'patient' | 'user' | 'system';
  /** resource type or `*` */
  resourceType: string;
  /** subset of c r u d s */
  interactions: Set<'c' | 'r' | 'u' | 'd' | 's'>;
  /** v2 granular filter (`?category=vital-signs`) as ordered query pairs; empty: none */
  filter: [string, string][];
}

/**
 * Who is calling and what they may do: built by the auth module from the
 * bearer token and attached to the request as `req.auth`. Storage, search,
 * bundles and operations apply it as SQL predicates before queries run.
 * `undefined` auth (internal calls) means unrestricted.
 */
export interface AuthContext {
  clientId: string;
  /** `Practitioner/dr-smith`, `Patient/alice` */
  fhirUser?: string;
  /** username of the signed-in user, when a user is involved */
  username?: string;
  /** patient in context (launch/patient): patient/ scopes are limited to this compartment */
  patient?: string;
  encounter?: string;
  scopes: string[];
  rules: ScopeRule[];
  /**
   * Admin powers (unrestricted data, AuditEvent, $reindex, client
   * registration, key rotation): the user has the admin role AND the token
   * was granted the full wildcard `user/*.cruds` (`adminPowers`). The role
   * alone never widens a token beyond its scopes.
   */
  admin: boolean;
  /** the user has the admin role: their `user/` scopes are not bounded to a compartment (like a practitioner's) */
  adminRole?: boolean;
  /** token id (jti), for audit and revocation */
  tokenId?: string;
  /** the grant (one consent or client_credentials issuance) the token belongs to */
  grantId?: string;
  /** when the token expires (ms since epoch) */
  expiresAt?: number;
}

export function authOf(req: Request): AuthContext | undefined {
  return (req as Request & { auth?: AuthContext }).auth;
}

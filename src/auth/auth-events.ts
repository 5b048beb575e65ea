import { Injectable } from '@nestjs/common';
import { logger } from '../logger';

export type SecurityEventType =
  | 'login'
  | 'token-issued'
  | 'token-refused'
  | 'access-denied'
  | 'refresh'
  | 'revocation'
  | 'client-registration'
  | 'launch-created';

/**
 * A security event (for the audit trail, BALP security events). Never
 * carries secrets: ids and references only.
 */
export interface SecurityEvent {
  type: SecurityEventType;
  outcome: 'success' | 'failure';
  /** why it failed (OAuth error code or short text) */
  reason?: string;
  clientId?: string;
  username?: string;
  fhirUser?: string;
  patient?: string;
  /** access token id (jti) issued, refused or revoked; for a registration, the registering party's token */
  tokenId?: string;
  /** a client registration: the client registered (`clientId` and the user are who registered it) */
  registeredClientId?: string;
  grantType?: string;
  scope?: string;
  address?: string;
  requestId?: string;
  /** method and path of the refused FHIR request */
  request?: string;
}

export type SecurityEventListener = (event: SecurityEvent) => void | Promise<void>;

/** Publishes security events: logged here (no secrets), recorded by whoever subscribes (audit). */
@Injectable()
export class AuthEvents {
  private readonly listeners: SecurityEventListener[] = [];

  subscribe(listener: SecurityEventListener): void {
    this.listeners.push(listener);
  }

  emit(event: SecurityEvent): void {
    // refused tokens and denied requests are routine (expired tokens, probing); failed sign-ins are not
    const level = event.outcome === 'success' || event.type === 'token-refused' || event.type === 'access-denied' ? 'info' : 'warn';
    if (logger.isLevelEnabled(level)) logger[level]({ security: event }, `security event: ${event.type}`);
    for (const l of this.listeners) {
      try {
        void Promise.resolve(l(event)).catch((err) => logger.error({ err: err?.message }, 'security event listener failed'));
      } catch (err: any) {
        logger.error({ err: err?.message }, 'security event listener failed');
      }
    }
  }
}

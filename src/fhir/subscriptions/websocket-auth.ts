import type { IncomingMessage } from 'http';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { AuditService } from '../../audit/audit.service';
import type { AuthContext } from '../../auth/auth-context';
import { OAuthError } from '../../auth/oauth-error';
import { RequestAuthorizer } from '../../auth/request-authorizer';
import { Tokens } from '../../auth/tokens.service';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { FhirError } from '../errors';
import { FHIR_ID } from '../fhir-id';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** A socket's verified bearer token. */
export interface SocketAuth {
  token: string;
  auth: AuthContext;
}

/** Why a token or a bind was refused: the text sent to the client before the socket closes. */
export class Refused extends Error {}

/**
 * Who may use the websocket channel (subscription.html#2.46.7.2 with SMART
 * on FHIR): the bearer token comes with the upgrade request
 * (`Authorization: Bearer …`, or `?access_token=…` for browsers, which
 * cannot set headers) or in an `auth <token>` message; binding to a
 * Subscription needs what reading it needs (RequestAuthorizer, the same
 * scope and compartment rules as `GET Subscription/{id}`). Refusals are
 * security events in the audit trail (token refused, access denied),
 * durable before the client is told.
 */
@Injectable()
export class WebSocketAuth {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tokens: Tokens,
    private readonly authorizer: RequestAuthorizer,
    @Optional() private readonly audit?: AuditService,
  ) {}

  get required(): boolean {
    return this.config.authRequired;
  }

  /**
   * The verified token of an upgrade request (`Authorization: Bearer`, else
   * `access_token`); undefined when it carries none; Refused when it does not verify.
   */
  async fromUpgrade(req: IncomingMessage, address: string | undefined): Promise<SocketAuth | undefined> {
    const header = req.headers.authorization;
    if (header) {
      const m = BEARER.exec(header.trim());
      if (!m) throw await this.tokenRefused('the Authorization header must be "Bearer <token>"', address);
      return this.authenticate(m[1], address);
    }
    const query = new URL(req.url ?? '/', 'http://x').searchParams.get('access_token');
    return query === null ? undefined : this.authenticate(query, address);
  }

  /** Verifies a token (signature, expiry, revocation); Refused with the reason otherwise. */
  async authenticate(token: string, address: string | undefined): Promise<SocketAuth> {
    if (!TOKEN.test(token)) throw await this.tokenRefused('the access token is not valid', address);
    try {
      return { token, auth: await this.tokens.authenticate(token) };
    } catch (err) {
      if (err instanceof OAuthError) throw await this.tokenRefused(err.description, address);
      throw err;
    }
  }

  /** Is the socket's token still good (not expired, not revoked)? */
  async stillValid(s: SocketAuth): Promise<boolean> {
    try {
      await this.tokens.authenticate(s.token);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * May this socket bind to Subscription `id`? Without AUTH_REQUIRED a socket
   * without a token is an unrestricted internal client (like HTTP);
   * otherwise the token must be able to read the Subscription.
   */
  async checkBind(s: SocketAuth | undefined, id: string, address: string | undefined): Promise<void> {
    if (!FHIR_ID.test(id)) throw new Refused('not a Subscription id');
    if (!s) {
      if (this.required) throw new Refused('authentication required: connect with a bearer token (Authorization header or access_token) or send "auth <token>" first');
      return;
    }
    if (!(await this.stillValid(s))) throw new Refused('the access token has expired or was revoked');
    try {
      await this.authorizer.authorize(s.auth, { method: 'GET', path: `Subscription/${id}`, query: [] });
    } catch (err) {
      if (!(err instanceof FhirError)) throw err;
      if (err.status === 403) {
        const a = s.auth;
        await this.audit?.recordSecurityEvent({
          kind: 'access-denied',
          success: false,
          description: `websocket bind Subscription/${id}: ${err.message}`,
          clientId: a.clientId,
          username: a.username,
          fhirUser: a.fhirUser,
          tokenId: a.tokenId,
          patient: a.patient,
          network: address,
        });
      }
      // a Subscription the token may not see is answered like a missing one
      throw new Refused(err.status === 403 ? err.message : 'no websocket Subscription with this id');
    }
  }

  private async tokenRefused(description: string, address: string | undefined): Promise<Refused> {
    await this.audit?.recordSecurityEvent({ kind: 'token-refused', success: false, description: `websocket: ${description}`, network: address });
    return new Refused(description);
  }
}

import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { ClientAuthenticator, Form } from './client-auth.service';
import { ClientRepository, OAuthClient } from './client.repository';
import { GrantRepository } from './grant.repository';
import { invalidClient, invalidRequest, invalidToken, OAuthError } from './oauth-error';
import { sha256 } from './secrets';
import { AccessTokenClaims, Tokens } from './tokens.service';

/**
 * The client permission to introspect every token (a resource server or
 * gateway in front of other APIs): the word `introspect` in the client's
 * registered `scope`. It is never granted in a token (the authorize flow and
 * client_credentials drop it); it is read from the registration.
 */
export const INTROSPECT_PERMISSION = 'introspect';

export const mayIntrospectAny = (client: OAuthClient) => client.scope.split(/\s+/).includes(INTROSPECT_PERMISSION);

/** Who asks: a client that may learn about its own tokens only, or a caller that may introspect any token. */
type Caller = { any: true } | { any: false; clientId: string };

const INACTIVE = { active: false };

/**
 * Token introspection (RFC 7662) behind the access rule of RFC 7662 §2.1
 * and §4 (the endpoint is protected, against token scanning) and SMART App
 * Launch "Token Introspection":
 *
 * - a confidential client authenticated as at the token endpoint
 *   (client_secret_basic/post, private_key_jwt) introspects tokens issued to
 *   itself; registered with the `introspect` permission, any token;
 * - a bearer token may introspect any token when it carries admin powers
 *   (`AuthContext.admin`) or is a client_credentials token of a client
 *   registered with `introspect`; any other bearer gets 401 insufficient_scope;
 * - no credentials, bad credentials or a public client: 401 invalid_client
 *   (a bad bearer token: 401 invalid_token);
 * - a token the caller may not introspect answers `{"active": false}`, exactly
 *   like an unknown one (nothing revealed).
 */
@Injectable()
export class Introspection {
  constructor(
    private readonly clientAuth: ClientAuthenticator,
    private readonly clients: ClientRepository,
    private readonly grants: GrantRepository,
    private readonly tokens: Tokens,
  ) {}

  async introspect(req: Request, form: Form): Promise<Record<string, unknown>> {
    const caller = await this.caller(req, form);
    if (!form.token) throw invalidRequest('token is required');
    const answer = await this.describe(form.token);
    if (!answer.active) return INACTIVE;
    return caller.any || answer.client_id === caller.clientId ? answer : INACTIVE;
  }

  private async caller(req: Request, form: Form): Promise<Caller> {
    const bearer = /^Bearer\s+(.*)$/i.exec(req.headers.authorization ?? '');
    if (!bearer) {
      const client = await this.clientAuth.authenticate(req, form);
      if (client.authMethod === 'none') throw invalidClient('public clients may not introspect tokens');
      return mayIntrospectAny(client) ? { any: true } : { any: false, clientId: client.clientId };
    }
    // RFC 6749 §2.3: one way of authenticating per request
    if (form.client_secret !== undefined || form.client_assertion !== undefined) {
      throw invalidRequest('the request uses more than one authentication method');
    }
    if (!bearer[1].trim()) throw invalidToken('the bearer token is empty');
    const auth = await this.tokens.authenticate(bearer[1].trim());
    if (auth.admin) return { any: true };
    const client = auth.username ? undefined : await this.clients.client(auth.clientId);
    if (client && client.authMethod !== 'none' && mayIntrospectAny(client)) return { any: true };
    // RFC 7662 §2.1: a bearer token without sufficient privileges gets 401 (RFC 6750 §3)
    throw new OAuthError(
      'insufficient_scope',
      `introspection with a bearer token needs admin powers or a client_credentials token of a client registered with "${INTROSPECT_PERMISSION}"`,
      401,
    );
  }

  /** What the server knows of a token (RFC 7662 §2.2; SMART's required and conditional fields). */
  private async describe(token: string): Promise<Record<string, unknown> & { active: boolean; client_id?: string }> {
    const claims = await this.activeAccessToken(token);
    if (claims) {
      return {
        active: true,
        token_type: 'Bearer',
        scope: claims.scope,
        client_id: claims.client_id,
        sub: claims.sub,
        username: claims.username,
        exp: claims.exp,
        iat: claims.iat,
        iss: claims.iss,
        aud: claims.aud,
        jti: claims.jti,
        patient: claims.patient,
        encounter: claims.encounter,
        fhirUser: claims.fhirUser,
      };
    }
    const refresh = await this.grants.refreshToken(sha256(token));
    if (refresh && !refresh.usedAt && !refresh.revokedAt && refresh.expiresAt > new Date()) {
      return {
        active: true,
        token_type: 'refresh_token',
        scope: refresh.scope,
        client_id: refresh.clientId,
        sub: refresh.username ?? refresh.clientId,
        exp: Math.floor(refresh.expiresAt.getTime() / 1000),
        iss: this.tokens.issuer,
        patient: refresh.patient,
        fhirUser: refresh.fhirUser,
      };
    }
    return INACTIVE;
  }

  private async activeAccessToken(token: string): Promise<AccessTokenClaims | undefined> {
    try {
      await this.tokens.authenticate(token);
      return await this.tokens.verify(token);
    } catch (err) {
      if (err instanceof OAuthError) return undefined;
      throw err;
    }
  }
}

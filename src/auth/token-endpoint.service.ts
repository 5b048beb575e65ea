import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { APP_CONFIG, AppConfig } from '../config/config';
import { FhirDefinitions } from '../fhir/definitions/definitions.module';
import { AuthEvents } from './auth-events';
import { ClientAuthenticator, Form } from './client-auth.service';
import { ClientRepository, OAuthClient } from './client.repository';
import { GrantContext, GrantRepository, RefreshTokenRow } from './grant.repository';
import { invalidGrant, invalidRequest, invalidScope, OAuthError, unauthorizedClient } from './oauth-error';
import { Revocations } from './revocations.service';
import { SearchService } from '../fhir/search/search.service';
import { allowedScopes, filterApplicable } from './scopes';
import { randomToken, sha256 } from './secrets';
import { Tokens } from './tokens.service';

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/**
 * The token endpoint (RFC 6749 §3.2): authorization_code (with PKCE),
 * refresh_token (rotated on every use; a reused one revokes its grant) and
 * client_credentials (SMART Backend Services); plus revocation (RFC 7009).
 * Introspection (RFC 7662) is the Introspection service's.
 */
@Injectable()
export class TokenEndpoint {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clientAuth: ClientAuthenticator,
    private readonly clients: ClientRepository,
    private readonly grants: GrantRepository,
    private readonly tokens: Tokens,
    private readonly revocations: Revocations,
    private readonly definitions: FhirDefinitions,
    private readonly events: AuthEvents,
    private readonly search: SearchService,
  ) {}

  async token(req: Request, form: Form): Promise<Record<string, unknown>> {
    const grantType = form.grant_type;
    if (!grantType) throw invalidRequest('grant_type is required');
    const client = await this.clientAuth.authenticate(req, form);
    if (!['authorization_code', 'refresh_token', 'client_credentials'].includes(grantType)) {
      throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported`);
    }
    if (!client.grantTypes.includes(grantType)) throw unauthorizedClient(`the client may not use ${grantType}`);
    if (grantType === 'authorization_code') return this.authorizationCode(client, form);
    if (grantType === 'refresh_token') return this.refresh(client, form);
    return this.clientCredentials(client, form);
  }

  private async authorizationCode(client: OAuthClient, form: Form) {
    if (!form.code) throw invalidRequest('code is required');
    const { code, reused } = await this.grants.redeemCode(sha256(form.code));
    if (!code) {
      // a code presented twice: revoke what the first redemption issued (RFC 6749 §4.1.2)
      if (reused) await this.revokeGrant(reused, client.clientId);
      throw invalidGrant('the code is invalid, expired or was already used');
    }
    if (code.clientId !== client.clientId) throw invalidGrant('the code was issued to another client');
    if (form.redirect_uri !== code.redirectUri) throw invalidGrant('redirect_uri does not match the authorization request');
    // SMART App Launch 2.x: "the EHR SHALL ensure that the code_verifier is present and valid" (every client)
    if (!code.codeChallenge) throw invalidGrant('the code was issued without PKCE');
    if (!form.code_verifier || !VERIFIER.test(form.code_verifier)) throw invalidGrant('a valid code_verifier is required');
    if (sha256(form.code_verifier) !== code.codeChallenge) throw invalidGrant('code_verifier does not match the code_challenge');
    return this.respond(client, code, { nonce: code.nonce, grantType: 'authorization_code' });
  }

  /**
   * Refresh (RFC 6749 §6). Everything that can refuse the request is checked
   * before the token is used: a refused request has no effect on the grant
   * (RFC 6749 §5.2), so only a request that succeeds rotates the token, and
   * only a rotated (or revoked) token presented again by its own client is
   * replay, which ends the grant.
   */
  private async refresh(client: OAuthClient, form: Form) {
    if (!form.refresh_token) throw invalidRequest('refresh_token is required');
    const hash = sha256(form.refresh_token);
    const current = await this.grants.refreshToken(hash);
    if (!current) throw invalidGrant('the refresh token is invalid, expired or revoked');
    // another client holding the string may not end (or use) this client's grant
    if (current.clientId !== client.clientId) throw invalidGrant('the refresh token was issued to another client');
    if (!current.usedAt && !current.revokedAt && current.expiresAt > new Date()) {
      const scope = this.refreshScope(current.scope, form.scope);
      const { row } = await this.grants.useRefreshToken(hash);
      if (row) return this.respond(client, { ...row, scope }, { refreshGrant: row, grantType: 'refresh_token' });
      // a concurrent request used it first: this one is a replay
    }
    const { reused } = await this.grants.useRefreshToken(hash);
    // a rotated (or revoked) refresh token came back: it may be stolen, so the whole grant ends
    if (reused) await this.revokeGrant(reused, client.clientId);
    throw invalidGrant('the refresh token is invalid, expired or revoked');
  }

  /**
   * The scope of a refreshed access token: the granted one, or a narrower
   * one asked for (SMART App Launch §"Refresh access token": a subset of the
   * granted scopes). A resource scope is covered by a broader granted one
   * (`patient/Observation.rs` by `patient/*.rs`); other scopes literally.
   */
  private refreshScope(grantedScope: string, asked: string | undefined): string {
    if (!asked) return grantedScope;
    const wanted = [...new Set(asked.split(/\s+/).filter(Boolean))];
    if (!wanted.length) return grantedScope;
    const covered = allowedScopes(wanted, grantedScope.split(' '), (t) => this.definitions.isResourceType(t)).filter((s) =>
      filterApplicable(s, (t, code) => !!this.search.registry.param(t, code)),
    );
    if (covered.length !== wanted.length) throw invalidScope('a refresh may only narrow the granted scope');
    return wanted.join(' ');
  }

  private async clientCredentials(client: OAuthClient, form: Form) {
    if (client.authMethod === 'none') throw unauthorizedClient('public clients may not use client_credentials');
    const registered = client.scope.split(/\s+/).filter(Boolean);
    const requested = form.scope ? form.scope.split(/\s+/).filter(Boolean) : registered;
    const scope = allowedScopes(requested, registered, (t) => this.definitions.isResourceType(t)).filter(
      (s) => s.startsWith('system/') && filterApplicable(s, (t, code) => !!this.search.registry.param(t, code)),
    );
    if (!scope.length) throw invalidScope('none of the requested scopes can be granted to this client');
    const at = await this.tokens.issueAccessToken({ clientId: client.clientId, subject: client.clientId, scope: scope.join(' ') });
    this.events.emit({ type: 'token-issued', outcome: 'success', clientId: client.clientId, tokenId: at.jti, grantType: 'client_credentials', scope: scope.join(' ') });
    return { access_token: at.token, token_type: 'Bearer', expires_in: this.tokens.accessTokenTtl, scope: scope.join(' ') };
  }

  /** The token response (SMART App Launch 2.0 §"Response to token request"). */
  private async respond(
    client: OAuthClient,
    grant: GrantContext,
    opts: { nonce?: string; refreshGrant?: GrantContext; grantType: string },
  ): Promise<Record<string, unknown>> {
    const user = grant.username ? await this.clients.user(grant.username) : undefined;
    if (grant.username && !user) throw invalidGrant('the user no longer exists');
    const scopes = grant.scope.split(' ');
    const at = await this.tokens.issueAccessToken({
      clientId: client.clientId,
      subject: grant.username ?? client.clientId,
      username: grant.username,
      scope: grant.scope,
      patient: grant.patient,
      encounter: grant.encounter,
      fhirUser: user?.fhirUser,
      grantId: grant.grantId,
      admin: user?.roles.includes('admin'),
    });
    const body: Record<string, unknown> = {
      access_token: at.token,
      token_type: 'Bearer',
      expires_in: this.tokens.accessTokenTtl,
      scope: grant.scope,
    };
    if (grant.patient) {
      body.patient = grant.patient;
      body.need_patient_banner = true;
    }
    if (grant.encounter) body.encounter = grant.encounter;
    if (grant.fhirContext?.length) body.fhirContext = grant.fhirContext;
    if (scopes.includes('openid') && user) {
      body.id_token = await this.tokens.issueIdToken({
        clientId: client.clientId,
        subject: user.username,
        fhirUser: scopes.includes('fhirUser') ? user.fhirUser : undefined,
        nonce: opts.nonce,
      });
    }
    const refreshGrant = opts.refreshGrant ?? grant;
    const refreshScopes = refreshGrant.scope.split(' ');
    if (refreshScopes.includes('offline_access') || refreshScopes.includes('online_access')) {
      const refresh = randomToken();
      await this.grants.createRefreshToken(sha256(refresh), refreshGrant, this.refreshExpiry(refreshScopes, opts.refreshGrant));
      body.refresh_token = refresh;
    }
    this.events.emit({
      type: opts.grantType === 'refresh_token' ? 'refresh' : 'token-issued',
      outcome: 'success',
      clientId: client.clientId,
      username: grant.username,
      fhirUser: user?.fhirUser,
      patient: grant.patient,
      tokenId: at.jti,
      grantType: opts.grantType,
      scope: grant.scope,
    });
    return body;
  }

  /**
   * When a new refresh token expires. `offline_access`: REFRESH_TOKEN_TTL from now, renewed by each
   * rotation. `online_access` alone (SMART App Launch: usable "for as long as the end-user remains
   * online"): bounded by the sign-in it came from, ONLINE_ACCESS_TTL after it, and never extended by
   * rotation: the rotated token keeps the expiry of the one it replaces.
   */
  private refreshExpiry(scopes: string[], previous: GrantContext | undefined): Date {
    const now = Date.now();
    if (scopes.includes('offline_access')) return new Date(now + this.config.refreshTokenTtl * 1000);
    const online = new Date(now + Math.min(this.config.onlineAccessTtl, this.config.refreshTokenTtl) * 1000);
    const before = (previous as RefreshTokenRow | undefined)?.expiresAt;
    return before && before < online ? before : online;
  }

  /** Ends a grant: its refresh tokens and every access token issued from it. */
  private async revokeGrant(grantId: string, clientId: string): Promise<void> {
    await this.grants.revokeGrantRefreshTokens(grantId);
    await this.revocations.revoke([{ id: grantId, expiresAt: new Date(Date.now() + this.config.accessTokenTtl * 1000) }]);
    this.events.emit({ type: 'revocation', outcome: 'success', clientId, reason: `grant ${grantId} ended` });
  }

  /** RFC 7009: revokes a refresh token (and its grant) or an access token of the calling client. */
  async revoke(req: Request, form: Form): Promise<void> {
    const client = await this.clientAuth.authenticate(req, form);
    if (!form.token) throw invalidRequest('token is required');
    const refresh = await this.grants.refreshToken(sha256(form.token));
    if (refresh) {
      if (refresh.clientId !== client.clientId) throw invalidRequest('the token was not issued to this client');
      await this.revokeGrant(refresh.grantId, client.clientId);
      return;
    }
    const claims = await this.tokens.verify(form.token).catch(() => undefined);
    if (!claims) return; // unknown or expired: nothing to revoke (RFC 7009 §2.2)
    if (claims.client_id !== client.clientId) throw invalidRequest('the token was not issued to this client');
    await this.revocations.revoke([{ id: claims.jti!, expiresAt: new Date(claims.exp! * 1000) }]);
    this.events.emit({ type: 'revocation', outcome: 'success', clientId: client.clientId, tokenId: claims.jti });
  }
}

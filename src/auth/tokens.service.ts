import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'crypto';
import { decodeProtectedHeader, errors as joseErrors, JWTPayload, jwtVerify, SignJWT } from './jose';
import { APP_CONFIG, AppConfig } from '../config/config';
import { FhirDefinitions } from '../fhir/definitions/definitions.module';
import type { AuthContext } from './auth-context';
import { invalidToken, OAuthError } from './oauth-error';
import { grantedContext } from './scope-policy';
import { Revocations } from './revocations.service';
import { sha256 } from './secrets';
import { SIGNING_ALG, SigningKeys } from './signing-keys.service';

/** What an access token says about its holder. */
export interface AccessGrant {
  clientId: string;
  /** username, or the client id for client_credentials */
  subject: string;
  username?: string;
  scope: string;
  patient?: string;
  encounter?: string;
  fhirUser?: string;
  /** the grant (consent) the token belongs to; revoking a refresh token revokes the grant */
  grantId?: string;
  admin?: boolean;
}

export interface AccessTokenClaims extends JWTPayload {
  client_id: string;
  scope: string;
  patient?: string;
  encounter?: string;
  fhirUser?: string;
  username?: string;
  gid?: string;
  roles?: string[];
}

interface CachedToken {
  auth: AuthContext;
  exp: number;
}

const CACHE_MAX = 10_000;

/**
 * Issues and verifies the server's JWTs (RS256, keys in SigningKeys):
 * access tokens for the FHIR API (aud = FHIR base URL) and OIDC id_tokens.
 *
 * Verified access tokens are cached by their SHA-256 until they expire, so
 * the hot path does no signature work; revocation is checked on every use
 * (Revocations: in-memory, kept exact across processes by LISTEN/NOTIFY).
 */
@Injectable()
export class Tokens {
  private readonly cache = new Map<string, CachedToken>();
  readonly issuer: string;
  readonly audience: string;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly keys: SigningKeys,
    private readonly revocations: Revocations,
    private readonly definitions: FhirDefinitions,
  ) {
    this.issuer = config.publicUrl;
    this.audience = config.fhirBaseUrl;
  }

  get accessTokenTtl(): number {
    return this.config.accessTokenTtl;
  }

  async issueAccessToken(g: AccessGrant): Promise<{ token: string; jti: string; expiresAt: Date }> {
    const { kid, key } = await this.keys.signingKey();
    const jti = randomUUID();
    const now = Math.floor(Date.now() / 1000);
    const exp = now + this.config.accessTokenTtl;
    const claims: AccessTokenClaims = { client_id: g.clientId, scope: g.scope };
    if (g.patient) claims.patient = g.patient;
    if (g.encounter) claims.encounter = g.encounter;
    if (g.fhirUser) claims.fhirUser = g.fhirUser;
    if (g.username) claims.username = g.username;
    if (g.grantId) claims.gid = g.grantId;
    if (g.admin) claims.roles = ['admin'];
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject(g.subject)
      .setJti(jti)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(key);
    return { token, jti, expiresAt: new Date(exp * 1000) };
  }

  /** OIDC id_token (OpenID Connect Core §2) with SMART's fhirUser claim. */
  async issueIdToken(o: { clientId: string; subject: string; fhirUser?: string; nonce?: string }): Promise<string> {
    const { kid, key } = await this.keys.signingKey();
    const claims: JWTPayload = {};
    if (o.fhirUser) claims.fhirUser = `${this.config.fhirBaseUrl}/${o.fhirUser}`;
    if (o.nonce) claims.nonce = o.nonce;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(o.clientId)
      .setSubject(o.subject)
      .setIssuedAt()
      .setExpirationTime(`${this.config.accessTokenTtl}s`)
      .sign(key);
  }

  /**
   * The AuthContext of a bearer token, or an `invalid_token` OAuthError:
   * signature (server key by kid), iss, aud, exp, revocation, and a patient
   * for patient-scoped tokens.
   */
  async authenticate(token: string): Promise<AuthContext> {
    const key = sha256(token);
    let hit = this.cache.get(key);
    if (!hit) {
      const claims = await this.verify(token);
      hit = { auth: this.contextOf(claims), exp: claims.exp! * 1000 };
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, hit);
    }
    if (hit.exp <= Date.now()) {
      this.cache.delete(key);
      throw invalidToken('the access token has expired');
    }
    if (await this.revocations.isRevoked(hit.auth.tokenId, hit.auth.grantId)) throw invalidToken('the access token was revoked');
    return hit.auth;
  }

  /** Verifies signature, issuer, audience and expiry (no revocation check, no cache). */
  async verify(token: string): Promise<AccessTokenClaims> {
    try {
      const { kid } = decodeProtectedHeader(token);
      const key = await this.keys.verificationKey(kid);
      if (!key) throw invalidToken('the access token was not signed by this server');
      const { payload } = await jwtVerify<AccessTokenClaims>(token, key, {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: [SIGNING_ALG],
        requiredClaims: ['exp', 'jti', 'sub'],
        typ: 'at+jwt',
      });
      if (typeof payload.scope !== 'string' || typeof payload.client_id !== 'string') throw invalidToken('malformed access token');
      return payload;
    } catch (err) {
      if (err instanceof OAuthError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw invalidToken('the access token has expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) throw invalidToken(`the access token's ${err.claim} is not valid here`);
      if (err instanceof joseErrors.JOSEError || err instanceof SyntaxError || err instanceof TypeError) {
        throw invalidToken('the access token is not valid');
      }
      throw err;
    }
  }

  private contextOf(c: AccessTokenClaims): AuthContext {
    const auth = grantedContext(
      {
        clientId: c.client_id,
        fhirUser: c.fhirUser,
        username: c.username,
        patient: c.patient,
        encounter: c.encounter,
        scope: c.scope,
        adminRole: Array.isArray(c.roles) && c.roles.includes('admin'),
        tokenId: c.jti,
        grantId: c.gid,
        expiresAt: c.exp! * 1000,
      },
      (t) => this.definitions.isResourceType(t),
    );
    // a patient-scoped token without a patient would be unbounded: refused outright
    if (auth.rules.some((r) => r.context === 'patient') && !c.patient) {
      throw invalidToken('the access token has patient scopes but no patient context');
    }
    return Object.freeze(auth);
  }
}

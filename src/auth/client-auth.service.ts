import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  errors as joseErrors,
  JWTVerifyGetKey,
  jwtVerify,
} from './jose';
import { APP_CONFIG, AppConfig } from '../config/config';
import { clientSubject, CredentialLockout } from './credential-lockout';
import { ClientRepository, OAuthClient, TokenEndpointAuthMethod } from './client.repository';
import { invalidClient, invalidRequest } from './oauth-error';
import { decoyHash, verifySecret } from './secrets';
import { SecurityRepository } from './security.repository';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Client assertion algorithms (SMART Backend Services: RS384 and ES384). */
export const ASSERTION_ALGS = ['RS384', 'ES384'];
/** A client assertion may live at most this long (SMART Backend Services: exp ≤ 5 minutes). */
const MAX_ASSERTION_SECONDS = 300;

export type Form = Record<string, string | undefined>;

/** The token endpoint's URL: the audience of client assertions. */
export const tokenEndpoint = (config: AppConfig) => `${config.publicUrl}/auth/token`;

/**
 * Client authentication at the token, introspection and revocation
 * endpoints: client_secret_basic, client_secret_post, private_key_jwt
 * (RFC 7523 with SMART's rules), or `none` for public clients. The method
 * used must be the one the client registered.
 */
@Injectable()
export class ClientAuthenticator {
  private readonly remoteKeySets = new Map<string, JWTVerifyGetKey>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clients: ClientRepository,
    private readonly security: SecurityRepository,
    private readonly lockout: CredentialLockout,
  ) {}

  async authenticate(req: Request, form: Form): Promise<OAuthClient> {
    const basic = parseBasic(req.headers.authorization);
    const assertion = form.client_assertion_type !== undefined || form.client_assertion !== undefined;
    // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request"
    if ([!!basic, assertion, form.client_secret !== undefined].filter(Boolean).length > 1) {
      throw invalidRequest('the request uses more than one client authentication method');
    }
    if (basic) return this.withSecret(req.ip, basic.id, basic.secret, 'client_secret_basic', form.client_id);
    if (assertion) return this.withAssertion(form);
    if (form.client_secret !== undefined) return this.withSecret(req.ip, form.client_id, form.client_secret, 'client_secret_post');
    if (!form.client_id) throw invalidClient('client authentication is required');
    const client = await this.clients.client(form.client_id);
    if (!client) throw invalidClient('unknown client');
    if (client.authMethod !== 'none') throw invalidClient(`this client must authenticate with ${client.authMethod}`);
    return client;
  }

  /** A client secret, checked unless this address (or, briefly, everyone) failed too often for the client (CredentialLockout). */
  private async withSecret(
    address: string | undefined,
    clientId: string | undefined,
    secret: string,
    method: TokenEndpointAuthMethod,
    formClientId?: string,
  ): Promise<OAuthClient> {
    if (!clientId) throw invalidClient('client_id is required');
    if (formClientId && formClientId !== clientId) throw invalidRequest('client_id does not match the authenticated client');
    const subject = clientSubject(clientId);
    if (await this.lockout.locked(subject, address)) throw invalidClient('too many failed authentications; try again later');
    const client = await this.clients.client(clientId);
    const ok = await verifySecret(secret, client?.secretHash ?? (await decoyHash()));
    if (!client || !ok || !client.secretHash) {
      await this.lockout.failed(subject, address);
      throw invalidClient('client authentication failed');
    }
    if (client.authMethod !== method) throw invalidClient(`this client must authenticate with ${client.authMethod}`);
    await this.lockout.succeeded(subject, address);
    return client;
  }

  /** private_key_jwt: iss = sub = client_id, aud = token endpoint, exp ≤ 5 min, unique jti, key from jwks(_uri). */
  private async withAssertion(form: Form): Promise<OAuthClient> {
    if (form.client_assertion_type !== JWT_BEARER) throw invalidClient(`client_assertion_type must be ${JWT_BEARER}`);
    const assertion = form.client_assertion;
    if (!assertion) throw invalidClient('client_assertion is required');
    let iss: unknown;
    try {
      iss = decodeJwt(assertion).iss;
    } catch {
      throw invalidClient('client_assertion is not a JWT');
    }
    if (typeof iss !== 'string' || (form.client_id && form.client_id !== iss)) {
      throw invalidClient('client_assertion iss must be the client_id');
    }
    const client = await this.clients.client(iss);
    if (!client) throw invalidClient('unknown client');
    if (client.authMethod !== 'private_key_jwt') throw invalidClient(`this client must authenticate with ${client.authMethod}`);
    const keys = this.keySet(client);
    if (!keys) throw invalidClient('the client has no registered keys');
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, keys, {
        issuer: client.clientId,
        subject: client.clientId,
        audience: tokenEndpoint(this.config),
        algorithms: ASSERTION_ALGS,
        requiredClaims: ['exp', 'jti'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw invalidClient('client_assertion has expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) throw invalidClient(`client_assertion ${err.claim} is not valid`);
      if (err instanceof joseErrors.JOSEError) throw invalidClient('client_assertion signature is not valid');
      throw err;
    }
    const exp = payload.exp!;
    if (exp - Math.floor(Date.now() / 1000) > MAX_ASSERTION_SECONDS) {
      throw invalidClient('client_assertion exp must be at most 5 minutes in the future');
    }
    if (!(await this.security.useJti(client.clientId, String(payload.jti), new Date(exp * 1000)))) {
      throw invalidClient('client_assertion jti was already used');
    }
    return client;
  }

  private keySet(client: OAuthClient): JWTVerifyGetKey | undefined {
    if (client.jwks) return createLocalJWKSet(client.jwks);
    if (!client.jwksUri) return undefined;
    let set = this.remoteKeySets.get(client.jwksUri);
    if (!set) {
      set = createRemoteJWKSet(new URL(client.jwksUri), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 });
      this.remoteKeySets.set(client.jwksUri, set);
    }
    return set;
  }
}

/** RFC 6749 §2.3.1: `Basic base64(urlencode(id):urlencode(secret))`. */
function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  const m = header && /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header.trim());
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) throw invalidClient('malformed Basic credentials');
  try {
    return { id: decodeURIComponent(decoded.slice(0, i).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, ' ')) };
  } catch {
    throw invalidClient('malformed Basic credentials');
  }
}

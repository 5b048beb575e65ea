import type { JSONWebKeySet } from './jose';
import type { OAuthClient, TokenEndpointAuthMethod } from './client.repository';
import { OAuthError } from './oauth-error';

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'];
const AUTH_METHODS: TokenEndpointAuthMethod[] = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'];

/** Client metadata as in the seed file and RFC 7591 registration requests. */
export interface ClientMetadata {
  client_id?: string;
  client_name?: string;
  /** seed file spelling of client_name */
  name?: string;
  client_secret?: string;
  grant_types?: string[];
  token_endpoint_auth_method?: string;
  redirect_uris?: string[];
  scope?: string;
  jwks?: JSONWebKeySet;
  jwks_uri?: string;
}

const bad = (description: string, error = 'invalid_client_metadata') => new OAuthError(error, description);

/**
 * Checks client metadata (RFC 7591 §2) and returns the client without its
 * secret (the caller hashes it). Throws OAuthError invalid_client_metadata /
 * invalid_redirect_uri.
 */
export function clientFromMetadata(m: ClientMetadata, defaults: { authMethod: TokenEndpointAuthMethod }): Omit<OAuthClient, 'source'> {
  if (!m || typeof m !== 'object') throw bad('client metadata must be a JSON object');
  if (holdsControlCharacter(m, 0)) throw bad('client metadata must not hold control characters');
  if (typeof m.client_id !== 'string' || !/^[A-Za-z0-9._~-]{1,128}$/.test(m.client_id)) {
    throw bad('client_id must be 1-128 characters of A-Z a-z 0-9 . _ ~ -');
  }
  const grantTypes = m.grant_types ?? ['authorization_code'];
  if (!Array.isArray(grantTypes) || !grantTypes.length || grantTypes.some((g) => !GRANT_TYPES.includes(g))) {
    throw bad(`grant_types must be a non-empty subset of ${GRANT_TYPES.join(', ')}`);
  }
  const authMethod = (m.token_endpoint_auth_method ?? defaults.authMethod) as TokenEndpointAuthMethod;
  if (!AUTH_METHODS.includes(authMethod)) throw bad(`token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
  const redirectUris = m.redirect_uris ?? [];
  if (!Array.isArray(redirectUris) || redirectUris.some((u) => !validRedirect(u))) {
    throw bad('redirect_uris must be absolute http(s) URLs without a fragment', 'invalid_redirect_uri');
  }
  if (grantTypes.includes('authorization_code') && !redirectUris.length) {
    throw bad('redirect_uris are required for the authorization_code grant', 'invalid_redirect_uri');
  }
  if (authMethod === 'none' && grantTypes.includes('client_credentials')) throw bad('a public client cannot use client_credentials');
  if (authMethod === 'none' && m.client_secret) throw bad('a public client has no client_secret');
  if (authMethod === 'private_key_jwt') {
    if (!m.jwks === !m.jwks_uri) throw bad('private_key_jwt needs exactly one of jwks and jwks_uri');
    if (m.jwks && (!Array.isArray(m.jwks.keys) || !m.jwks.keys.length)) throw bad('jwks must be a JWK Set with keys');
    if (m.jwks?.keys.some((k: any) => k.d || k.p || k.k)) throw bad('jwks must hold public keys only');
    if (m.jwks_uri && !/^https?:\/\/\S+$/.test(m.jwks_uri)) throw bad('jwks_uri must be an http(s) URL');
  }
  if (m.scope !== undefined && typeof m.scope !== 'string') throw bad('scope must be a space-separated string');
  return {
    clientId: m.client_id,
    name: m.client_name ?? m.name,
    grantTypes,
    authMethod,
    redirectUris,
    scope: (m.scope ?? '').trim().split(/\s+/).filter(Boolean).join(' '),
    jwks: m.jwks,
    jwksUri: m.jwks_uri,
  };
}

/** Whether a string anywhere in the metadata (a few levels: jwks keys) holds a character below U+0020 or DEL. */
function holdsControlCharacter(v: unknown, depth: number): boolean {
  if (typeof v === 'string') return /[\u0000-\u001f\u007f]/.test(v);
  if (depth > 4 || v === null || typeof v !== 'object') return false;
  return Object.values(v as object).some((x) => holdsControlCharacter(x, depth + 1));
}

function validRedirect(u: unknown): boolean {
  if (typeof u !== 'string') return false;
  try {
    const url = new URL(u);
    return (url.protocol === 'https:' || url.protocol === 'http:') && !url.hash && !u.includes('#');
  } catch {
    return false;
  }
}

/** RFC 7591 §3.2.1 response fields of a client. */
export function clientMetadataOf(c: OAuthClient): Record<string, unknown> {
  const out: Record<string, unknown> = {
    client_id: c.clientId,
    client_name: c.name,
    grant_types: c.grantTypes,
    token_endpoint_auth_method: c.authMethod,
    redirect_uris: c.redirectUris,
    scope: c.scope,
  };
  if (c.jwks) out.jwks = c.jwks;
  if (c.jwksUri) out.jwks_uri = c.jwksUri;
  return out;
}

import { Injectable } from '@nestjs/common';
import type { JSONWebKeySet } from './jose';
import { Database, Queryable } from '../database/database';

export type TokenEndpointAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** A registered OAuth client (seeded or dynamically registered). */
export interface OAuthClient {
  clientId: string;
  name?: string;
  grantTypes: string[];
  authMethod: TokenEndpointAuthMethod;
  redirectUris: string[];
  /** space-separated scopes the client may be granted */
  scope: string;
  secretHash?: string;
  jwks?: JSONWebKeySet;
  jwksUri?: string;
  source: 'seed' | 'registration';
  createdBy?: string;
}

/** A user who signs in at the login page. */
export interface AuthUser {
  username: string;
  passwordHash: string;
  /** `Practitioner/dr-smith`, `Patient/alice` */
  fhirUser?: string;
  roles: string[];
}

/** SQL for clients and users. */
@Injectable()
export class ClientRepository {
  constructor(private readonly db: Database) {}

  async client(clientId: string, q: Queryable = this.db): Promise<OAuthClient | undefined> {
    const { rows } = await q.query('SELECT * FROM auth_client WHERE client_id = $1', [clientId]);
    return rows[0] && toClient(rows[0]);
  }

  /** Inserts or updates; a row whose values are unchanged is not touched (idempotent seeding). */
  async upsertClient(c: OAuthClient, q: Queryable = this.db): Promise<boolean> {
    const { rowCount } = await q.query(
      `INSERT INTO auth_client AS c (client_id, name, grant_types, token_endpoint_auth_method, redirect_uris, scope,
                                     secret_hash, jwks, jwks_uri, source, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (client_id) DO UPDATE SET
         name = EXCLUDED.name, grant_types = EXCLUDED.grant_types,
         token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method, redirect_uris = EXCLUDED.redirect_uris,
         scope = EXCLUDED.scope, secret_hash = EXCLUDED.secret_hash, jwks = EXCLUDED.jwks, jwks_uri = EXCLUDED.jwks_uri,
         updated_at = now()
       WHERE (c.name, c.grant_types, c.token_endpoint_auth_method, c.redirect_uris, c.scope, c.secret_hash, c.jwks, c.jwks_uri)
         IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.grant_types, EXCLUDED.token_endpoint_auth_method, EXCLUDED.redirect_uris,
                           EXCLUDED.scope, EXCLUDED.secret_hash, EXCLUDED.jwks, EXCLUDED.jwks_uri)`,
      [
        c.clientId,
        c.name ?? null,
        c.grantTypes,
        c.authMethod,
        c.redirectUris,
        c.scope,
        c.secretHash ?? null,
        c.jwks ? JSON.stringify(c.jwks) : null,
        c.jwksUri ?? null,
        c.source,
        c.createdBy ?? null,
      ],
    );
    return (rowCount ?? 0) > 0;
  }

  async user(username: string, q: Queryable = this.db): Promise<AuthUser | undefined> {
    const { rows } = await q.query('SELECT * FROM auth_user WHERE username = $1', [username]);
    const r = rows[0];
    return r && { username: r.username, passwordHash: r.password_hash, fhirUser: r.fhir_user ?? undefined, roles: r.roles ?? [] };
  }

  async upsertUser(u: AuthUser, q: Queryable = this.db): Promise<boolean> {
    const { rowCount } = await q.query(
      `INSERT INTO auth_user AS u (username, password_hash, fhir_user, roles) VALUES ($1, $2, $3, $4)
       ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, fhir_user = EXCLUDED.fhir_user,
         roles = EXCLUDED.roles, updated_at = now()
       WHERE (u.password_hash, u.fhir_user, u.roles) IS DISTINCT FROM (EXCLUDED.password_hash, EXCLUDED.fhir_user, EXCLUDED.roles)`,
      [u.username, u.passwordHash, u.fhirUser ?? null, u.roles],
    );
    return (rowCount ?? 0) > 0;
  }
}

function toClient(r: any): OAuthClient {
  return {
    clientId: r.client_id,
    name: r.name ?? undefined,
    grantTypes: r.grant_types ?? [],
    authMethod: r.token_endpoint_auth_method,
    redirectUris: r.redirect_uris ?? [],
    scope: r.scope ?? '',
    secretHash: r.secret_hash ?? undefined,
    jwks: r.jwks ? JSON.parse(r.jwks) : undefined,
    jwksUri: r.jwks_uri ?? undefined,
    source: r.source,
    createdBy: r.created_by ?? undefined,
  };
}

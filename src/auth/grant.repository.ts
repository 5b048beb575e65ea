import { Injectable } from '@nestjs/common';
import { Database, Queryable } from '../database/database';

/** What a grant carries from consent to every token issued from it (code, refresh tokens). */
export interface GrantContext {
  grantId: string;
  clientId: string;
  username?: string;
  fhirUser?: string;
  /** granted scopes, space-separated */
  scope: string;
  patient?: string;
  encounter?: string;
  fhirContext?: unknown[];
}

/** An authorization request between /authorize and the redirect back (login → picker → consent). */
export interface PendingRequest {
  idHash: string;
  bindingHash: string;
  csrfToken: string;
  clientId: string;
  redirectUri: string;
  /** requested scopes, space-separated */
  scope: string;
  state?: string;
  codeChallenge?: string;
  nonce?: string;
  launchHash?: string;
  username?: string;
  patient?: string;
  encounter?: string;
  fhirContext?: unknown[];
  expiresAt: Date;
}

export interface IssuedCode extends GrantContext {
  redirectUri: string;
  codeChallenge?: string;
  nonce?: string;
}

export interface RefreshTokenRow extends GrantContext {
  expiresAt: Date;
  usedAt?: Date;
  revokedAt?: Date;
}

export interface LaunchContext {
  patient?: string;
  encounter?: string;
  fhirContext?: unknown[];
}

const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
const parsed = (v: string | null) => (v ? JSON.parse(v) : undefined);
const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

function grantOf(r: any): GrantContext {
  return {
    grantId: r.grant_id,
    clientId: r.client_id,
    username: opt(r.username),
    fhirUser: opt(r.fhir_user),
    scope: r.scope,
    patient: opt(r.patient),
    encounter: opt(r.encounter),
    fhirContext: parsed(r.fhir_context),
  };
}

/** SQL for authorization requests, codes, refresh tokens and EHR launch contexts (all keyed by hashes). */
@Injectable()
export class GrantRepository {
  constructor(private readonly db: Database) {}

  // ---- authorization requests in progress -----------------------------------

  async createRequest(r: PendingRequest): Promise<void> {
    await this.db.query(
      `INSERT INTO auth_request (id_hash, binding_hash, csrf_token, client_id, redirect_uri, scope, state, code_challenge,
                                 nonce, launch_hash, patient, encounter, fhir_context, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        r.idHash, r.bindingHash, r.csrfToken, r.clientId, r.redirectUri, r.scope, r.state ?? null, r.codeChallenge ?? null,
        r.nonce ?? null, r.launchHash ?? null, r.patient ?? null, r.encounter ?? null, json(r.fhirContext), r.expiresAt,
      ],
    );
  }

  async request(idHash: string): Promise<PendingRequest | undefined> {
    const { rows } = await this.db.query('SELECT * FROM auth_request WHERE id_hash = $1 AND expires_at > now()', [idHash]);
    const r = rows[0];
    if (!r) return undefined;
    return {
      idHash: r.id_hash,
      bindingHash: r.binding_hash,
      csrfToken: r.csrf_token,
      clientId: r.client_id,
      redirectUri: r.redirect_uri,
      scope: r.scope,
      state: opt(r.state),
      codeChallenge: opt(r.code_challenge),
      nonce: opt(r.nonce),
      launchHash: opt(r.launch_hash),
      username: opt(r.username),
      patient: opt(r.patient),
      encounter: opt(r.encounter),
      fhirContext: parsed(r.fhir_context),
      expiresAt: r.expires_at,
    };
  }

  async updateRequest(idHash: string, change: { username?: string; patient?: string }): Promise<void> {
    await this.db.query(
      'UPDATE auth_request SET username = COALESCE($2, username), patient = COALESCE($3, patient) WHERE id_hash = $1',
      [idHash, change.username ?? null, change.patient ?? null],
    );
  }

  /** Ends a request; false when it was already ended (a double submit). */
  async deleteRequest(idHash: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM auth_request WHERE id_hash = $1', [idHash]);
    return (rowCount ?? 0) > 0;
  }

  // ---- authorization codes ----------------------------------------------------

  async createCode(codeHash: string, c: IssuedCode, expiresAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO auth_code (code_hash, grant_id, client_id, redirect_uri, scope, username, fhir_user, patient, encounter,
                              fhir_context, code_challenge, nonce, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
      [
        codeHash, c.grantId, c.clientId, c.redirectUri, c.scope, c.username ?? null, c.fhirUser ?? null, c.patient ?? null,
        c.encounter ?? null, json(c.fhirContext), c.codeChallenge ?? null, c.nonce ?? null, expiresAt,
      ],
    );
  }

  /**
   * Redeems a code exactly once (one atomic UPDATE: two concurrent
   * redemptions cannot both succeed). `reused` carries the grant of a code
   * that was already redeemed, so its tokens can be revoked (RFC 6749 §4.1.2).
   */
  async redeemCode(codeHash: string): Promise<{ code?: IssuedCode; reused?: string }> {
    const { rows } = await this.db.query(
      `UPDATE auth_code SET used_at = now() WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING *`,
      [codeHash],
    );
    if (rows[0]) {
      const r = rows[0];
      return { code: { ...grantOf(r), redirectUri: r.redirect_uri, codeChallenge: opt(r.code_challenge), nonce: opt(r.nonce) } };
    }
    const used = await this.db.query('SELECT grant_id FROM auth_code WHERE code_hash = $1 AND used_at IS NOT NULL', [codeHash]);
    return { reused: used.rows[0]?.grant_id };
  }

  // ---- refresh tokens -----------------------------------------------------------

  async createRefreshToken(tokenHash: string, g: GrantContext, expiresAt: Date, q: Queryable = this.db): Promise<void> {
    await q.query(
      `INSERT INTO auth_refresh_token (token_hash, grant_id, client_id, username, fhir_user, scope, patient, encounter,
                                       fhir_context, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        tokenHash, g.grantId, g.clientId, g.username ?? null, g.fhirUser ?? null, g.scope, g.patient ?? null,
        g.encounter ?? null, json(g.fhirContext), expiresAt,
      ],
    );
  }

  /** Uses a refresh token once (rotation). `reused`: a rotated or revoked token came back. */
  async useRefreshToken(tokenHash: string, q: Queryable = this.db): Promise<{ row?: RefreshTokenRow; reused?: string }> {
    const { rows } = await q.query(
      `UPDATE auth_refresh_token SET used_at = now()
       WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now() RETURNING *`,
      [tokenHash],
    );
    if (rows[0]) return { row: { ...grantOf(rows[0]), expiresAt: rows[0].expires_at } };
    const old = await q.query(
      'SELECT grant_id FROM auth_refresh_token WHERE token_hash = $1 AND (used_at IS NOT NULL OR revoked_at IS NOT NULL)',
      [tokenHash],
    );
    return { reused: old.rows[0]?.grant_id };
  }

  async refreshToken(tokenHash: string): Promise<RefreshTokenRow | undefined> {
    const { rows } = await this.db.query('SELECT * FROM auth_refresh_token WHERE token_hash = $1', [tokenHash]);
    const r = rows[0];
    return r && { ...grantOf(r), expiresAt: r.expires_at, usedAt: opt(r.used_at), revokedAt: opt(r.revoked_at) };
  }

  /** Revokes every refresh token of a grant. */
  async revokeGrantRefreshTokens(grantId: string, q: Queryable = this.db): Promise<void> {
    await q.query('UPDATE auth_refresh_token SET revoked_at = now() WHERE grant_id = $1 AND revoked_at IS NULL', [grantId]);
  }

  // ---- EHR launch contexts -------------------------------------------------------

  async createLaunch(launchHash: string, l: LaunchContext, createdBy: string, expiresAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO auth_launch (launch_hash, patient, encounter, fhir_context, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [launchHash, l.patient ?? null, l.encounter ?? null, json(l.fhirContext), createdBy, expiresAt],
    );
  }

  async launch(launchHash: string): Promise<LaunchContext | undefined> {
    const { rows } = await this.db.query('SELECT * FROM auth_launch WHERE launch_hash = $1 AND expires_at > now()', [launchHash]);
    const r = rows[0];
    return r && { patient: opt(r.patient), encounter: opt(r.encounter), fhirContext: parsed(r.fhir_context) };
  }

  /** Removes rows that can no longer be used. */
  async purgeExpired(): Promise<void> {
    await this.db.query(`DELETE FROM auth_request WHERE expires_at < now()`);
    await this.db.query(`DELETE FROM auth_code WHERE expires_at < now() - interval '1 day'`);
    await this.db.query(`DELETE FROM auth_refresh_token WHERE expires_at < now()`);
    await this.db.query(`DELETE FROM auth_launch WHERE expires_at < now()`);
  }
}

import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * SMART on FHIR authorization server state. Everything a second server
 * process needs lives here (no process-local state that must agree):
 * signing keys, clients, users, authorization requests in progress, codes,
 * refresh tokens, revoked token ids, used client-assertion jti, EHR launch
 * contexts and failed-login counters.
 *
 * Secrets are never stored in the clear: passwords and client secrets are
 * scrypt hashes; codes, refresh tokens, launch ids and request handles are
 * stored as SHA-256 hashes of high-entropy random values (so a database
 * dump cannot be replayed). The signing key's private JWK is stored as is
 * (every process must sign with it); protect the database accordingly.
 */
export class Auth1795623990665 implements MigrationInterface {
  name = 'Auth1795623990665';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE auth_client (
        client_id text PRIMARY KEY,
        name text,
        grant_types text[] NOT NULL,
        token_endpoint_auth_method text NOT NULL,
        redirect_uris text[] NOT NULL DEFAULT '{}',
        scope text NOT NULL DEFAULT '',
        secret_hash text,
        jwks text,
        jwks_uri text,
        source text NOT NULL DEFAULT 'seed',
        created_by text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE auth_user (
        username text PRIMARY KEY,
        password_hash text NOT NULL,
        fhir_user text,
        roles text[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE auth_signing_key (
        kid text PRIMARY KEY,
        alg text NOT NULL,
        private_jwk text NOT NULL,
        public_jwk text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz
      )`);
    // an authorization request between /authorize and the redirect back (login, picker, consent)
    await q.query(`
      CREATE TABLE auth_request (
        id_hash text PRIMARY KEY,
        binding_hash text NOT NULL,
        csrf_token text NOT NULL,
        client_id text NOT NULL,
        redirect_uri text NOT NULL,
        scope text NOT NULL,
        state text,
        code_challenge text,
        nonce text,
        launch_hash text,
        username text,
        patient text,
        encounter text,
        fhir_context text,
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX auth_request_expires_idx ON auth_request (expires_at)`);
    await q.query(`
      CREATE TABLE auth_code (
        code_hash text PRIMARY KEY,
        grant_id text NOT NULL,
        client_id text NOT NULL,
        redirect_uri text NOT NULL,
        scope text NOT NULL,
        username text,
        fhir_user text,
        patient text,
        encounter text,
        fhir_context text,
        code_challenge text,
        nonce text,
        expires_at timestamptz NOT NULL,
        used_at timestamptz
      )`);
    await q.query(`CREATE INDEX auth_code_expires_idx ON auth_code (expires_at)`);
    await q.query(`
      CREATE TABLE auth_refresh_token (
        token_hash text PRIMARY KEY,
        grant_id text NOT NULL,
        client_id text NOT NULL,
        username text,
        fhir_user text,
        scope text NOT NULL,
        patient text,
        encounter text,
        fhir_context text,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX auth_refresh_grant_idx ON auth_refresh_token (grant_id)`);
    await q.query(`CREATE INDEX auth_refresh_expires_idx ON auth_refresh_token (expires_at)`);
    // revoked access-token ids (jti) and grant ids (every token of a grant); kept until the tokens expire
    await q.query(`
      CREATE TABLE auth_revoked (
        id text PRIMARY KEY,
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX auth_revoked_expires_idx ON auth_revoked (expires_at)`);
    // client assertion jti already used (replay protection), until the assertion expires
    await q.query(`
      CREATE TABLE auth_used_jti (
        client_id text NOT NULL,
        jti text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (client_id, jti)
      )`);
    await q.query(`CREATE INDEX auth_used_jti_expires_idx ON auth_used_jti (expires_at)`);
    await q.query(`
      CREATE TABLE auth_launch (
        launch_hash text PRIMARY KEY,
        patient text,
        encounter text,
        fhir_context text,
        created_by text NOT NULL,
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX auth_launch_expires_idx ON auth_launch (expires_at)`);
    // failed sign-ins / client authentications per key ('user:alice', 'client:lab-portal')
    await q.query(`
      CREATE TABLE auth_login_attempt (
        key text PRIMARY KEY,
        failures integer NOT NULL,
        first_failure timestamptz NOT NULL,
        locked_until timestamptz
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [
      'auth_login_attempt',
      'auth_launch',
      'auth_used_jti',
      'auth_revoked',
      'auth_refresh_token',
      'auth_code',
      'auth_request',
      'auth_signing_key',
      'auth_user',
      'auth_client',
    ]) {
      await q.query(`DROP TABLE ${t}`);
    }
  }
}

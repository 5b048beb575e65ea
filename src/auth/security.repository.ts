import { Injectable } from '@nestjs/common';
import { Database, Queryable } from '../database/database';

export interface SigningKeyRow {
  kid: string;
  alg: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: Date;
  retiredAt?: Date;
}

/** SQL for signing keys, revoked token ids, used assertion jti, failed-login and rate-limit counters. */
@Injectable()
export class SecurityRepository {
  constructor(private readonly db: Database) {}

  // ---- signing keys -------------------------------------------------------------

  /** Keys still usable for verification: not retired, or retired less than `graceSeconds` ago; newest first. */
  async signingKeys(graceSeconds: number): Promise<SigningKeyRow[]> {
    const { rows } = await this.db.query(
      `SELECT * FROM auth_signing_key
       WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
       ORDER BY created_at DESC, kid`,
      [graceSeconds],
    );
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      privateJwk: r.private_jwk,
      publicJwk: r.public_jwk,
      createdAt: r.created_at,
      retiredAt: r.retired_at ?? undefined,
    }));
  }

  /**
   * Adds a signing key. With `onlyIfNone`, under a transaction-scoped
   * advisory lock, so processes starting together create one key, not several;
   * with `retireOthers`, the new key replaces the active ones (rotation).
   */
  async addSigningKey(k: Omit<SigningKeyRow, 'createdAt'>, opts: { onlyIfNone?: boolean; retireOthers?: boolean }): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(7202604005)');
      if (opts.onlyIfNone) {
        const { rows } = await tx.query('SELECT 1 FROM auth_signing_key WHERE retired_at IS NULL LIMIT 1');
        if (rows.length) return false;
      }
      if (opts.retireOthers) await tx.query('UPDATE auth_signing_key SET retired_at = now() WHERE retired_at IS NULL');
      await tx.query('INSERT INTO auth_signing_key (kid, alg, private_jwk, public_jwk) VALUES ($1, $2, $3, $4)', [
        k.kid,
        k.alg,
        k.privateJwk,
        k.publicJwk,
      ]);
      return true;
    });
  }

  // ---- revoked tokens and grants ------------------------------------------------------

  /** Revoked ids not yet expired (loaded into each process's revocation set). */
  async revokedIds(): Promise<{ id: string; expiresAt: Date }[]> {
    const { rows } = await this.db.query('SELECT id, expires_at FROM auth_revoked WHERE expires_at > now()');
    return rows.map((r) => ({ id: r.id, expiresAt: r.expires_at }));
  }

  async isRevoked(ids: string[]): Promise<boolean> {
    const { rows } = await this.db.query('SELECT 1 FROM auth_revoked WHERE id = ANY($1::text[]) LIMIT 1', [ids]);
    return rows.length > 0;
  }

  /** Records revoked ids and tells every process (NOTIFY is delivered when the transaction commits). */
  async revoke(ids: { id: string; expiresAt: Date }[], channel: string, q: Queryable = this.db): Promise<void> {
    if (!ids.length) return;
    await q.query(
      `WITH ins AS (
         INSERT INTO auth_revoked (id, expires_at)
         SELECT * FROM unnest($1::text[], $2::timestamptz[])
         ON CONFLICT (id) DO UPDATE SET expires_at = GREATEST(auth_revoked.expires_at, EXCLUDED.expires_at)
         RETURNING id)
       SELECT pg_notify($3, id) FROM ins`,
      [ids.map((i) => i.id), ids.map((i) => i.expiresAt), channel],
    );
  }

  // ---- client assertion replay -------------------------------------------------------

  /** Records a client assertion's jti; false when it was seen before (replay). */
  async useJti(clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'INSERT INTO auth_used_jti (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [clientId, jti, expiresAt],
    );
    return (rowCount ?? 0) > 0;
  }

  // ---- failed sign-ins ---------------------------------------------------------------

  async lockedUntil(key: string): Promise<Date | undefined> {
    const { rows } = await this.db.query('SELECT locked_until FROM auth_login_attempt WHERE key = $1 AND locked_until > now()', [
      key,
    ]);
    return rows[0]?.locked_until;
  }

  /**
   * Counts a failure within a window; once `threshold` failures fall in one
   * window the key is locked for `lockSeconds`. One statement, so concurrent
   * failures all count.
   */
  async recordFailure(key: string, threshold: number, lockSeconds: number): Promise<void> {
    await this.db.query(
      `INSERT INTO auth_login_attempt AS a (key, failures, first_failure) VALUES ($1, 1, now())
       ON CONFLICT (key) DO UPDATE SET
         failures = CASE WHEN a.first_failure < now() - make_interval(secs => $3) THEN 1 ELSE a.failures + 1 END,
         first_failure = CASE WHEN a.first_failure < now() - make_interval(secs => $3) THEN now() ELSE a.first_failure END,
         locked_until = CASE
           WHEN a.first_failure >= now() - make_interval(secs => $3) AND a.failures + 1 >= $2
           THEN now() + make_interval(secs => $3) ELSE a.locked_until END`,
      [key, threshold, lockSeconds],
    );
  }

  async clearFailures(key: string): Promise<void> {
    await this.db.query('DELETE FROM auth_login_attempt WHERE key = $1', [key]);
  }

  // ---- rate limits -------------------------------------------------------------------

  /**
   * Counts a hit of `key` in the current fixed window of `windowSeconds`
   * (database clock, so every process agrees): one upsert. Past `limit` the
   * row is no longer written (a flood costs no new row versions). Returns
   * the seconds to wait when over the limit, else 0.
   */
  async rateLimitHit(key: string, windowSeconds: number, limit: number): Promise<number> {
    const { rows } = await this.db.query(
      `WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM now()) / $2::int) * $2::int) AS start),
       up AS (
         INSERT INTO auth_rate_limit AS r (key, window_start, hits) SELECT $1, start, 1 FROM w
         ON CONFLICT (key, window_start) DO UPDATE SET hits = r.hits + 1 WHERE r.hits <= $3::int
         RETURNING r.hits)
       SELECT (SELECT hits FROM up) AS hits,
              ceil(extract(epoch FROM (SELECT start FROM w) + make_interval(secs => $2::int) - now()))::int AS wait`,
      [key, windowSeconds, limit],
    );
    const { hits, wait } = rows[0];
    return hits !== null && hits <= limit ? 0 : Math.max(1, wait);
  }

  /** Counters of windows that are over. */
  async purgeRateLimits(windowSeconds: number): Promise<void> {
    await this.db.query('DELETE FROM auth_rate_limit WHERE window_start < now() - make_interval(secs => $1::int)', [windowSeconds]);
  }

  async purgeExpired(): Promise<void> {
    await this.db.query('DELETE FROM auth_revoked WHERE expires_at < now()');
    await this.db.query('DELETE FROM auth_used_jti WHERE expires_at < now()');
    await this.db.query(`DELETE FROM auth_login_attempt WHERE first_failure < now() - interval '1 day'
                           AND (locked_until IS NULL OR locked_until < now())`);
  }
}

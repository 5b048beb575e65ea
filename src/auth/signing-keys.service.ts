import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'crypto';
import { CryptoKey, exportJWK, generateKeyPair, importJWK, JWK } from './jose';
import { APP_CONFIG, AppConfig } from '../config/config';
import { logger } from '../logger';
import { SecurityRepository, SigningKeyRow } from './security.repository';

/** The server's token signing algorithm (RS256: mandatory for OIDC id_tokens, cheap to verify). */
export const SIGNING_ALG = 'RS256';
/** How long this process signs with a key before looking for a newer one (rotation by another process). */
const SIGNING_KEY_REFRESH_MS = 60_000;
/** Unknown kids trigger at most one reload per this interval. */
const RELOAD_MIN_INTERVAL_MS = 5_000;

interface LoadedKey {
  kid: string;
  row: SigningKeyRow;
  publicKey: CryptoKey | Uint8Array;
  privateKey?: CryptoKey | Uint8Array;
}

/**
 * The server's signing keys, kept in the database so every process signs
 * and verifies with the same keys. The newest unretired key signs; retired
 * keys stay published (JWKS) and verify until every token they signed has
 * expired. `rotate()` adds a key and retires the others.
 */
@Injectable()
export class SigningKeys implements OnModuleInit {
  private keys = new Map<string, LoadedKey>();
  private current?: LoadedKey;
  private loadedAt = 0;
  private loading?: Promise<void>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: SecurityRepository,
  ) {}

  async onModuleInit(): Promise<void> {
    if (await this.repo.addSigningKey(await newKey(), { onlyIfNone: true })) logger.info('created a token signing key');
    await this.reload();
  }

  /** Adds a new signing key and retires the current ones (they keep verifying until their tokens expire). */
  async rotate(): Promise<string> {
    const key = await newKey();
    await this.repo.addSigningKey(key, { retireOthers: true });
    await this.reload();
    logger.info({ kid: key.kid }, 'token signing key rotated');
    return key.kid;
  }

  /** The key to sign new tokens with. */
  async signingKey(): Promise<{ kid: string; key: CryptoKey | Uint8Array }> {
    if (!this.current || Date.now() - this.loadedAt > SIGNING_KEY_REFRESH_MS) await this.reload();
    const k = this.current!;
    k.privateKey ??= await importJWK(JSON.parse(k.row.privateJwk) as JWK, SIGNING_ALG);
    return { kid: k.kid, key: k.privateKey };
  }

  /** The public key for a kid (a key rotated in by another process is found by one reload). */
  async verificationKey(kid: string | undefined): Promise<CryptoKey | Uint8Array | undefined> {
    if (!kid) return undefined;
    let k = this.keys.get(kid);
    if (!k && Date.now() - this.loadedAt > RELOAD_MIN_INTERVAL_MS) {
      await this.reload();
      k = this.keys.get(kid);
    }
    if (k?.row.retiredAt && k.row.retiredAt.getTime() + this.config.accessTokenTtl * 1000 < Date.now()) return undefined;
    return k?.publicKey;
  }

  /** The JWKS document: every key that may still verify a token. */
  async jwks(): Promise<{ keys: JWK[] }> {
    if (Date.now() - this.loadedAt > SIGNING_KEY_REFRESH_MS) await this.reload();
    return { keys: [...this.keys.values()].map((k) => JSON.parse(k.row.publicJwk) as JWK) };
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const rows = await this.repo.signingKeys(this.config.accessTokenTtl);
        const keys = new Map<string, LoadedKey>();
        for (const row of rows) {
          const old = this.keys.get(row.kid);
          keys.set(row.kid, {
            kid: row.kid,
            row,
            publicKey: old?.publicKey ?? (await importJWK(JSON.parse(row.publicJwk) as JWK, row.alg)),
            privateKey: old?.privateKey,
          });
        }
        this.keys = keys;
        const active = rows.find((r) => !r.retiredAt);
        this.current = active ? keys.get(active.kid) : this.current;
        this.loadedAt = Date.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}

async function newKey(): Promise<Omit<SigningKeyRow, 'createdAt'>> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { modulusLength: 2048, extractable: true });
  const kid = randomUUID();
  const pub = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALG, use: 'sig' };
  const priv = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG };
  return { kid, alg: SIGNING_ALG, privateJwk: JSON.stringify(priv), publicJwk: JSON.stringify(pub) };
}

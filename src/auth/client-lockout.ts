import { Inject, Injectable } from '@nestjs/common';
import { isIPv6 } from 'net';
import { APP_CONFIG, AppConfig } from '../config/config';
import { SecurityRepository } from './security.repository';

/** The per-client ceiling: this many times AUTH_LOCKOUT_THRESHOLD failures from all addresses together… */
export const CLIENT_CEILING_FACTOR = 10;
/** …within this window pause the client's secret checks for the rest of it. */
export const CLIENT_CEILING_SECONDS = 60;

/**
 * Failed client-secret authentications (client_secret_basic/post), counted
 * so that whoever merely knows a client_id cannot lock the genuine client
 * out, while guessing stays impractical (in `auth_login_attempt`, shared by
 * every process):
 *
 * - per client and source address (an IPv6 address by its /64):
 *   `AUTH_LOCKOUT_THRESHOLD` failures lock that address out of that client
 *   for `AUTH_LOCKOUT_SECONDS`; the client from other addresses is unaffected;
 * - per client, from all addresses: `CLIENT_CEILING_FACTOR` × the threshold
 *   failures within `CLIENT_CEILING_SECONDS` pause every secret check of the
 *   client until that short window ends (a distributed guess gets at most
 *   that many tries a minute; the genuine client waits at most a minute).
 */
@Injectable()
export class ClientLockout {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly security: SecurityRepository,
  ) {}

  async locked(clientId: string, address: string | undefined): Promise<boolean> {
    const [pair, client] = await Promise.all([
      this.security.lockedUntil(pairKey(clientId, address)),
      this.security.lockedUntil(clientKey(clientId)),
    ]);
    return !!(pair || client);
  }

  async failed(clientId: string, address: string | undefined): Promise<void> {
    const { authLockoutThreshold: threshold, authLockoutSeconds: seconds } = this.config;
    await Promise.all([
      this.security.recordFailure(pairKey(clientId, address), threshold, seconds),
      this.security.recordFailure(clientKey(clientId), threshold * CLIENT_CEILING_FACTOR, CLIENT_CEILING_SECONDS),
    ]);
  }

  /** A success forgets the address's failures (the client-wide count runs out with its window). */
  succeeded(clientId: string, address: string | undefined): Promise<void> {
    return this.security.clearFailures(pairKey(clientId, address));
  }
}

const clientKey = (clientId: string) => `client:${clientId}`;
const pairKey = (clientId: string, address: string | undefined) => `client:${clientId}@${addressKey(address)}`;

/**
 * The source a counter is kept for: an IPv4 address as is (also IPv4-mapped
 * IPv6), an IPv6 address by its /64 prefix (one host usually holds a whole
 * /64, so counting single IPv6 addresses would count nothing).
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!isIPv6(address)) return address;
  const [head, tail = ''] = address.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

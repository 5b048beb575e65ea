import { Inject, Injectable } from '@nestjs/common';
import { isIPv6 } from 'net';
import { APP_CONFIG, AppConfig } from '../config/config';
import { SecurityRepository } from './security.repository';

/** The per-subject ceiling: this many times AUTH_LOCKOUT_THRESHOLD failures from all addresses together… */
export const CEILING_FACTOR = 10;
/** …within this window pause the subject's credential checks for the rest of it. */
export const CEILING_SECONDS = 60;

/**
 * Whose credential is checked: a client's secret (`client:<client_id>`) or a
 * user's password on the login page (`user:<username>`, case-insensitive as
 * the sign-in form treats it). Percent-encoded, so a subject never contains
 * the `@` that separates it from an address in a counter's key.
 */
export type LockoutSubject = string & { readonly lockoutSubject: unique symbol };
export const clientSubject = (clientId: string) => `client:${encodeURIComponent(clientId)}` as LockoutSubject;
export const userSubject = (username: string) => `user:${encodeURIComponent(username.toLowerCase())}` as LockoutSubject;

/**
 * Failed credential checks (client secrets: client_secret_basic/post; user
 * passwords: the login page), counted so that whoever merely knows a
 * client_id or a username cannot lock the genuine client or user out, while
 * guessing stays impractical (in `auth_login_attempt`, shared by every
 * process):
 *
 * - per subject and source address (an IPv6 address by its /64):
 *   `AUTH_LOCKOUT_THRESHOLD` failures lock that address out of that subject
 *   for `AUTH_LOCKOUT_SECONDS`; the subject from other addresses is unaffected;
 * - per subject, from all addresses: `CEILING_FACTOR` × the threshold
 *   failures within `CEILING_SECONDS` pause every check of the subject's
 *   credential until that short window ends (a distributed guess gets at
 *   most that many tries a minute; the genuine owner waits at most a minute).
 *
 * Unknown clients and users are counted exactly like known ones (no
 * enumeration through lockout behaviour).
 */
@Injectable()
export class CredentialLockout {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly security: SecurityRepository,
  ) {}

  async locked(subject: LockoutSubject, address: string | undefined): Promise<boolean> {
    const [pair, all] = await Promise.all([
      this.security.lockedUntil(pairKey(subject, address)),
      this.security.lockedUntil(subject),
    ]);
    return !!(pair || all);
  }

  async failed(subject: LockoutSubject, address: string | undefined): Promise<void> {
    const { authLockoutThreshold: threshold, authLockoutSeconds: seconds } = this.config;
    await Promise.all([
      this.security.recordFailure(pairKey(subject, address), threshold, seconds),
      this.security.recordFailure(subject, threshold * CEILING_FACTOR, CEILING_SECONDS),
    ]);
  }

  /** A success forgets the address's failures (the subject-wide count runs out with its window). */
  succeeded(subject: LockoutSubject, address: string | undefined): Promise<void> {
    return this.security.clearFailures(pairKey(subject, address));
  }
}

const pairKey = (subject: LockoutSubject, address: string | undefined) => `${subject}@${addressKey(address)}`;

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

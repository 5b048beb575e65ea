import * as crypto from 'crypto';

/**
 * A one-shot digest (`crypto.hash`, Node ≥ 20.12: about half the CPU of a Hash object for short
 * inputs; a Hash object on older Node). Hot paths hash per index row and per audit row.
 */
export const digest: (algorithm: 'md5' | 'sha256', data: string | Buffer) => Buffer =
  typeof (crypto as any).hash === 'function'
    ? (algorithm, data) => (crypto as any).hash(algorithm, data, 'buffer')
    : (algorithm, data) => crypto.createHash(algorithm).update(data).digest();

/** `digest` as lowercase hex (no Buffer made). */
export const digestHex: (algorithm: 'md5' | 'sha256', data: string | Buffer) => string =
  typeof (crypto as any).hash === 'function'
    ? (algorithm, data) => (crypto as any).hash(algorithm, data, 'hex')
    : (algorithm, data) => crypto.createHash(algorithm).update(data).digest('hex');

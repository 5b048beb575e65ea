import { randomFillSync } from 'crypto';

const pool = Buffer.alloc(16 * 256);
let offset = pool.length;

/**
 * A time-ordered UUID (RFC 9562 version 7): the ids of new resources and audit
 * rows land on the right-most pages of the indexes they key instead of random
 * pages of them (a random UUID touches a different page per insert, and once an
 * index outgrows the buffer cache nearly every insert reads and later writes one).
 * 74 of the 128 bits stay random, so an id is still not guessable; the first 48
 * are the time in milliseconds (the creation instant, which `meta.lastUpdated`
 * of version 1 shows anyway).
 */
export function uuidv7(ms: number = Date.now()): string {
  if (offset >= pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const b = pool.subarray(offset, offset + 16);
  offset += 16;
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

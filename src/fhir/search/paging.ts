import { badRequest } from '../errors';
import type { Cursor } from './search-query';

/**
 * Keyset paging (search.html §3.1.1.6 paging): a page link carries the sort
 * values of the row it continues from, so following `next` to the end gives
 * every match once while other writes go on (no OFFSET: no duplicates or gaps
 * when rows are inserted or deleted before the cursor, and a deep page costs
 * what the first does).
 */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.direction, c.resourceType, c.id, c.values])).toString('base64url');
}

export function decodeCursor(value: string): Cursor {
  try {
    const [direction, resourceType, id, values] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    if (
      (direction === 'n' || direction === 'p') &&
      typeof resourceType === 'string' &&
      typeof id === 'string' &&
      Array.isArray(values) &&
      values.every((v) => v === null || typeof v === 'string')
    ) {
      return { direction, resourceType, id, values };
    }
  } catch {
    /* fall through */
  }
  throw badRequest('invalid _cursor');
}

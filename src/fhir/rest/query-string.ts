import { badRequest } from '../errors';

/**
 * `a=1&b=2` (a query string or an `application/x-www-form-urlencoded` body) as ordered [name, value]
 * pairs, repeats kept, `+` a space. Unlike URLSearchParams, which keeps `%zz` as text and turns
 * `%E0%A4%A` into U+FFFD, a malformed percent-encoding (RFC 3986 §2.1, or bytes that are not UTF-8)
 * is a 400 naming the parameter: such a request would otherwise search for a value nobody sent.
 */
export function decodePairs(raw: string): [string, string][] {
  const out: [string, string][] = [];
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const name = decode(rawName, rawName);
    out.push([name, eq < 0 ? '' : decode(part.slice(eq + 1), name)]);
  }
  return out;
}

function decode(s: string, name: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw badRequest(`parameter "${name}": "${s}" is not a valid percent-encoding (RFC 3986 §2.1, UTF-8)`);
  }
}

/** The raw text of a form body, kept by the urlencoded body parser (`verify`) for decodePairs. */
export const RAW_FORM = Symbol('rawForm');

/** `verify` of express.urlencoded: keeps the body's text (the parsed object has lost malformed escapes). */
export function keepRawForm(req: object, _res: unknown, buf: Buffer): void {
  (req as { [RAW_FORM]?: string })[RAW_FORM] = buf.toString('utf8');
}

/** The pairs of a form body read by express.urlencoded (none when it was not one). */
export function formBodyPairs(req: object): [string, string][] {
  const raw = (req as { [RAW_FORM]?: string })[RAW_FORM];
  return raw === undefined ? [] : decodePairs(raw);
}

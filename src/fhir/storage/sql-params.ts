/** Collects bound parameters for one statement: `bind(v, 'text[]')` returns `$n::text[]`. */
export class SqlParams {
  readonly values: unknown[] = [];

  bind = (value: unknown, type?: string): string => {
    // arrays (index rows, Bundle writes) go as their text literal, made here: `pg` serializes each
    // element through its generic value preparation and two regex replaces, which cost a write of
    // a 21-resource Bundle about 1 ms of CPU
    this.values.push(Array.isArray(value) && type?.endsWith('[]') ? arrayLiteral(value) : value);
    return type ? `$${this.values.length}::${type}` : `$${this.values.length}`;
  };
}

const NEEDS_ESCAPE = /["\\]/;
const ESCAPED = /["\\]/g;

/**
 * The PostgreSQL array literal of an array (`{"a",NULL,"b \"c\""}`): every element quoted (so
 * `NULL` text, commas, braces and blanks stay data), backslash and quote escaped; nested arrays
 * as sub-arrays, Dates as ISO instants, Buffers as bytea hex, objects as JSON, as `pg` sends them.
 */
export function arrayLiteral(values: unknown[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) {
      out += 'NULL';
      continue;
    }
    if (Array.isArray(v)) {
      out += arrayLiteral(v);
      continue;
    }
    const text =
      typeof v === 'string'
        ? v
        : v instanceof Date
          ? v.toISOString()
          : Buffer.isBuffer(v)
            ? `\\x${v.toString('hex')}`
            : typeof v === 'object'
              ? JSON.stringify(v)
              : String(v);
    out += NEEDS_ESCAPE.test(text) ? `"${text.replace(ESCAPED, '\\$&')}"` : `"${text}"`;
  }
  return out + '}';
}

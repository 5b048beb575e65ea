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

/** The PostgreSQL array literal of an array: short ones element by element, longer ones by `JSON.stringify` where it can be. */
export function arrayLiteral(values: unknown[]): string {
  // a few elements (an audit row's subtype or Patients) are cheaper to concatenate than to stringify and check
  if (values.length <= 4) return builtLiteral(values);
  return plainLiteral(values) ?? builtLiteral(values);
}

/** JSON escapes that an array literal would read differently (\n, \t, \uXXXX…): only \" and \\ mean the same in both. */
const OTHER_JSON_ESCAPE = /\\[^"\\]/;

/**
 * The literal of an array of strings, finite numbers, booleans and nulls, made by `JSON.stringify`:
 * `["a","b \"c\"",null,1]` is `{"a","b \"c\"",null,1}` to PostgreSQL (elements quoted the same way,
 * unquoted `null` is NULL), as long as no string needed any other JSON escape (control characters,
 * lone surrogates). Native and flat: the literals of a Bundle's index rows are megabytes, and
 * concatenated element by element they were built, then flattened, then collected as garbage.
 * Undefined when the array does not qualify.
 */
function plainLiteral(values: unknown[]): string | undefined {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const t = typeof v;
    if (!(t === 'string' || v === null || v === undefined || t === 'boolean' || (t === 'number' && Number.isFinite(v)))) return undefined;
  }
  const json = JSON.stringify(values);
  // most literals hold no backslash at all: a memchr-fast look before the regex scan
  return json.indexOf('\\') >= 0 && OTHER_JSON_ESCAPE.test(json) ? undefined : `{${json.slice(1, -1)}}`;
}

const NEEDS_ESCAPE = /["\\]/;
const ESCAPED = /["\\]/g;

/**
 * The literal built element by element (`{"a",NULL,"b \"c\""}`): every element quoted (so `NULL`
 * text, commas, braces and blanks stay data), backslash and quote escaped; nested arrays as
 * sub-arrays, Dates as ISO instants, Buffers as bytea hex, objects as JSON, as `pg` sends them.
 */
function builtLiteral(values: unknown[]): string {
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

/**
 * Checks of FHIR primitive values in their JSON form (json.html §2.6.2):
 * the JSON type (boolean, number or string), the format regex from the
 * type's StructureDefinition, and the ranges the regexes cannot express.
 */

/** Returns a message when the JSON value is not a valid instance of the primitive type. */
export type PrimitiveCheck = (value: unknown) => string | undefined;

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

/**
 * The definitions' regexes are XML Schema regexes, where `\s` is only space,
 * tab, CR and LF; JavaScript's `\s` also matches other Unicode spaces (NBSP…),
 * which would reject valid strings. Translate and anchor them.
 */
export function xsdRegex(source: string): RegExp {
  const js = source
    .replace(/\[\^\\s\]/g, '[^ \\t\\n\\r]')
    .replace(/\\S/g, '[^ \\t\\n\\r]')
    .replace(/\\s/g, '[ \\t\\n\\r]');
  return new RegExp(`^(?:${js})$`);
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** base64 without a backtracking regex: payloads can be megabytes. */
function isBase64(s: string): boolean {
  let n = 0;
  let pad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 47;
    if (c === 61) pad++;
    else if (!alnum || pad > 0) return false; // data after padding
    n++;
  }
  return n > 0 && n % 4 === 0 && pad <= 2;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The regexes accept 2023-02-31; a date must also exist in the calendar. */
function calendarDateOk(s: string): boolean {
  if (s.length < 10) return true; // year or year-month
  const y = Number(s.slice(0, 4));
  const m = Number(s.slice(5, 7));
  const d = Number(s.slice(8, 10));
  if (d > DAYS_IN_MONTH[m - 1]) return false;
  if (m === 2 && d === 29) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return true;
}

/** Characters below U+0020 other than tab, LF and CR: datatypes.html#string says strings SHALL NOT hold them. */
const CONTROL_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;

function stringCheck(type: string, test?: (s: string) => boolean, extra?: (s: string) => boolean): PrimitiveCheck {
  return (value) => {
    if (typeof value !== 'string') return `expected a JSON string for ${type}, got ${jsonType(value)}`;
    if (value.length === 0) return `an empty string is not a valid ${type}`;
    const control = CONTROL_CHARACTER.exec(value);
    if (control) {
      const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
      return `a ${type} must not contain the control character U+${code} (only tab, CR and LF are allowed below U+0020)`;
    }
    if (test && !test(value)) return `"${clip(value)}" is not a valid ${type}`;
    if (extra && !extra(value)) return `"${clip(value)}" is not a valid ${type}`;
    return undefined;
  };
}

function integerCheck(type: string, min: number): PrimitiveCheck {
  return (value) => {
    if (typeof value !== 'number') return `expected a JSON number for ${type}, got ${jsonType(value)}`;
    if (!Number.isInteger(value)) return `${value} is not a valid ${type} (not a whole number)`;
    if (value < min || value > INT_MAX) return `${value} is out of range for ${type} (${min}..${INT_MAX})`;
    return undefined;
  };
}

/** Builds a checker for each primitive type from the definitions' regexes. */
export function compilePrimitiveChecks(primitiveRegex: Record<string, string>, primitiveTypes: string[]): Map<string, PrimitiveCheck> {
  const checks = new Map<string, PrimitiveCheck>();
  for (const type of primitiveTypes) {
    const src = primitiveRegex[type];
    const re = src ? xsdRegex(src) : undefined;
    const test = re ? (s: string) => re.test(s) : undefined;
    switch (type) {
      case 'boolean':
        checks.set(type, (v) => (typeof v === 'boolean' ? undefined : `expected a JSON boolean, got ${jsonType(v)}`));
        break;
      case 'integer':
        checks.set(type, integerCheck(type, INT_MIN));
        break;
      case 'unsignedInt':
        checks.set(type, integerCheck(type, 0));
        break;
      case 'positiveInt':
        checks.set(type, integerCheck(type, 1));
        break;
      case 'decimal':
        checks.set(type, (v) =>
          typeof v === 'number' && Number.isFinite(v) ? undefined : `expected a JSON number for decimal, got ${jsonType(v)}`,
        );
        break;
      case 'base64Binary':
        checks.set(type, stringCheck(type, isBase64));
        break;
      case 'string':
      case 'markdown':
      case 'xhtml':
        // XML Schema `[ \r\n\t\S]+`: any non-empty string (xhtml has its own check)
        checks.set(type, stringCheck(type));
        break;
      case 'date':
      case 'dateTime':
      case 'instant':
        checks.set(type, stringCheck(type, test, calendarDateOk));
        break;
      default:
        checks.set(type, stringCheck(type, test));
    }
  }
  return checks;
}

/** A short, log-safe excerpt of a value for diagnostics. */
export function clip(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

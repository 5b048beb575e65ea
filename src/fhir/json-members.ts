/** A top-level member of a JSON object text: its key and the exact text of its value. */
export interface JsonMember {
  key: string;
  value: string;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;

/**
 * The top-level members of a JSON object text, in order, with their values as text (not parsed).
 * `_summary` and `_elements` keep or drop whole top-level elements of stored resources: splitting
 * the stored text costs a fraction of parsing it and serializing the rest again (a 3.4 KB Patient:
 * ~34 µs parsed, of which every search page paid 20×). Strings are skipped by `indexOf`, so a
 * narrative costs little. Undefined when the text is not one JSON object (the caller parses it).
 * The text is trusted to be JSON (stored resources are written by this server): brackets are
 * counted, not matched by kind.
 */
export function topLevelMembers(text: string): JsonMember[] | undefined {
  let i = skipBlanks(text, 0);
  if (text.charCodeAt(i) !== OPEN_OBJECT) return undefined;
  i = skipBlanks(text, i + 1);
  const out: JsonMember[] = [];
  if (text.charCodeAt(i) === CLOSE_OBJECT) return skipBlanks(text, i + 1) === text.length ? out : undefined;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return undefined;
    const raw = text.slice(i + 1, keyEnd - 1);
    const key = raw.includes('\\') ? (JSON.parse(text.slice(i, keyEnd)) as string) : raw;
    i = skipBlanks(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return undefined;
    const start = skipBlanks(text, i + 1);
    const end = valueEnd(text, start);
    if (end < 0) return undefined;
    out.push({ key, value: text.slice(start, end) });
    i = skipBlanks(text, end);
    const c = text.charCodeAt(i);
    if (c === COMMA) i = skipBlanks(text, i + 1);
    else if (c === CLOSE_OBJECT) return skipBlanks(text, i + 1) === text.length ? out : undefined;
    else return undefined;
  }
}

/** JSON whitespace: space, tab, line feed, carriage return. */
function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

function skipBlanks(text: string, i: number): number {
  while (i < text.length && isBlank(text.charCodeAt(i))) i++;
  return i;
}

/** From the opening quote of a string at `i`: the index after its closing quote, or -1. */
function stringEnd(text: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return -1;
    // escaped when preceded by an odd number of backslashes
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** From the first character of a value at `i`: the index after it, or -1. */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return stringEnd(text, i);
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    let depth = 0;
    for (let j = i; j < text.length; ) {
      const d = text.charCodeAt(j);
      if (d === QUOTE) {
        j = stringEnd(text, j);
        if (j < 0) return -1;
        continue;
      }
      if (d === OPEN_OBJECT || d === OPEN_ARRAY) depth++;
      else if ((d === CLOSE_OBJECT || d === CLOSE_ARRAY) && --depth === 0) return j + 1;
      j++;
    }
    return -1;
  }
  // a number, true, false or null: up to the next delimiter
  let j = i;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d === COMMA || d === CLOSE_OBJECT || d === CLOSE_ARRAY || isBlank(d)) break;
    j++;
  }
  return j > i ? j : -1;
}

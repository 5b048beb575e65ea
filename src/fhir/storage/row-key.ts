/**
 * A 53-bit key of an index row: its owner (type and id) and its value columns, hashed (cyrb53, a
 * fast non-cryptographic hash; 53 bits so that it is an exact JS number and fits `bigint`).
 * Updates keep the rows whose key the new version produces again and replace only the others
 * (`ResourceRepository`); two different rows of a write sharing a key (odds about n²/2⁵⁴) would
 * leave one value unindexed until the next write of that resource. Columns derived from the
 * others (`IndexColumn.derived`: the lookup hashes) are not hashed: a change of how they are
 * derived comes with a reindex, which rewrites every row.
 */
export class RowKeys {
  private readonly seed: [number, number];

  /** `columns`: how many leading columns of a row to hash (the value columns). */
  constructor(owner: string, id: string, private readonly columns: number) {
    this.seed = mix(mix([0xdeadbeef, 0x41c6ce57], owner), id);
  }

  key(row: unknown[]): number {
    let [h1, h2] = this.seed;
    const n = Math.min(this.columns, row.length);
    for (let i = 0; i < n; i++) {
      const v = row[i];
      // null: one character no text holds; each value ends with a separator (('ab', 'c') ≠ ('a', 'bc'))
      const text = v === null || v === undefined ? '\uffff' : typeof v === 'string' ? v : String(v);
      for (let j = 0; j < text.length; j++) {
        const c = text.charCodeAt(j);
        h1 = Math.imul(h1 ^ c, 2654435761);
        h2 = Math.imul(h2 ^ c, 1597334677);
      }
      h1 = Math.imul(h1 ^ 0xfffe, 2654435761);
      h2 = Math.imul(h2 ^ 0xfffe, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return 4294967296 * (2097151 & h2) + (h1 >>> 0);
  }
}

/** How many leading columns are hashed: up to the first derived one. */
export function hashedColumns(columns: { derived?: boolean }[]): number {
  const i = columns.findIndex((c) => c.derived);
  return i < 0 ? columns.length : i;
}

function mix(h: [number, number], text: string): [number, number] {
  let [h1, h2] = h;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  // a separator no value contains, so ('ab', 'c') and ('a', 'bc') differ
  return [Math.imul(h1 ^ 0xfffe, 2654435761), Math.imul(h2 ^ 0xfffe, 1597334677)];
}

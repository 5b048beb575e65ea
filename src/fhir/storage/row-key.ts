/**
 * A 53-bit key of an index row: its owner (type and id) and every value column, hashed (cyrb53,
 * a fast non-cryptographic hash; 53 bits so that it is an exact JS number and fits `bigint`).
 * Updates keep the rows whose key the new version produces again and replace only the others
 * (`ResourceRepository`); two different rows of a write sharing a key (odds about n²/2⁵⁴) would
 * leave one value unindexed until the next write of that resource.
 */
export function rowKey(owner: string, id: string, row: unknown[]): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const add = (text: string) => {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    // a separator no value contains, so ('ab', 'c') and ('a', 'bc') differ
    h1 = Math.imul(h1 ^ 0xfffe, 2654435761);
    h2 = Math.imul(h2 ^ 0xfffe, 1597334677);
  };
  add(owner);
  add(id);
  for (const v of row) add(v === null || v === undefined ? '\uffff' : typeof v === 'string' ? v : String(v));
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

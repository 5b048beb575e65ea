import type { SqlParams } from './sql-params';
import type { IndexTable } from './storage.types';

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
  private readonly seed1: number;
  private readonly seed2: number;
  // the state `absorb` leaves: two fields rather than a returned pair, so that hashing allocates nothing
  private h1 = 0;
  private h2 = 0;

  /** `columns`: how many leading columns of a row to hash (the value columns). */
  constructor(owner: string, id: string, private readonly columns: number) {
    this.absorb([owner, id], 2, 0xdeadbeef, 0x41c6ce57);
    this.seed1 = this.h1;
    this.seed2 = this.h2;
  }

  key(row: unknown[]): number {
    this.absorb(row, Math.min(this.columns, row.length), this.seed1, this.seed2);
    let { h1, h2 } = this;
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return 4294967296 * (2097151 & h2) + (h1 >>> 0);
  }

  /** Hashes the first `n` values from the state (h1, h2); null as one character no text holds. */
  private absorb(values: unknown[], n: number, h1: number, h2: number): void {
    for (let i = 0; i < n; i++) {
      const v = values[i];
      const text = v === null || v === undefined ? '\uffff' : typeof v === 'string' ? v : String(v);
      for (let j = 0; j < text.length; j++) {
        const c = text.charCodeAt(j);
        h1 = Math.imul(h1 ^ c, 2654435761);
        h2 = Math.imul(h2 ^ c, 1597334677);
      }
      // a separator no value contains, so ('ab', 'c') and ('a', 'bc') differ
      h1 = Math.imul(h1 ^ 0xfffe, 2654435761);
      h2 = Math.imul(h2 ^ 0xfffe, 1597334677);
    }
    this.h1 = h1;
    this.h2 = h2;
  }
}

/** How many leading columns are hashed: up to the first derived one. */
export function hashedColumns(columns: { derived?: boolean }[]): number {
  const i = columns.findIndex((c) => c.derived);
  return i < 0 ? columns.length : i;
}

/** The columns of `t` holding the owner's type and id (the container's, for contained resources). */
export function ownerColumns(t: IndexTable): [string, string] {
  return t.key ?? ['resource_type', 'resource_id'];
}

/** The index rows of one table for some resources, column by column, each row with its key. */
export interface IndexRowColumns {
  types: string[];
  ids: string[];
  keys: number[];
  /** one array per `IndexTable.columns` entry */
  columns: unknown[][];
}

/** Collects the rows of `t` of each owner (a written version, a reindexed resource). */
export function indexRowColumns(t: IndexTable, owners: Iterable<{ resourceType: string; id: string; rows: unknown[][] | undefined }>): IndexRowColumns {
  const out: IndexRowColumns = { types: [], ids: [], keys: [], columns: t.columns.map(() => []) };
  const hashed = hashedColumns(t.columns);
  for (const { resourceType, id, rows } of owners) {
    if (!rows?.length) continue;
    const rowKeys = new RowKeys(resourceType, id, hashed);
    for (const row of rows) {
      out.types.push(resourceType);
      out.ids.push(id);
      out.keys.push(rowKeys.key(row));
      for (let c = 0; c < row.length; c++) out.columns[c].push(row[c] ?? null);
    }
  }
  return out;
}

/**
 * Binds collected rows for `unnest`: the column names (owner type, owner id, `row_key`, the table's
 * columns) and the bound arrays in that order. `keys`: the `row_key` array when already bound.
 */
export function bindIndexRowColumns(p: SqlParams, t: IndexTable, rows: IndexRowColumns, keys = p.bind(rows.keys, 'bigint[]')): { names: string[]; arrays: string[] } {
  const [keyType, keyId] = ownerColumns(t);
  return {
    names: [keyType, keyId, 'row_key', ...t.columns.map((c) => c.name)],
    arrays: [p.bind(rows.types, 'text[]'), p.bind(rows.ids, 'text[]'), keys, ...t.columns.map((c, i) => p.bind(rows.columns[i], `${c.type}[]`))],
  };
}

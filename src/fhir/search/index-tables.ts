import type { IndexTable } from '../storage/storage.types';
import { searchHash } from './normalize';
import type { IndexKind } from './search-params';

/**
 * The search index: ONE table (created by migrations/*-SearchIndex.ts), one
 * row per indexed value, keyed by (resource_type, resource_id) and found by
 * resource through a hash index on resource_id — storage
 * writes and deletes the rows in the same statement as the resource. One
 * table rather than one per parameter type because the per-statement cost
 * of a write grows with the number of tables written (measured: five tables
 * cost about twice the database CPU of one for the same rows); partial
 * indexes per kind keep each lookup as narrow as a table of its own. The
 * lookup keys (hashes, date span class) are computed here, by the writer
 * (`withLookupKeys`), not as generated columns: PostgreSQL rebuilds generated
 * expressions at every INSERT statement (see the SearchIndexKeysFromWriter migration).
 */
export const INDEX_TABLE = 'search_index';

/** The `kind` of a row (`o`: an owner date row, see ownerDateRows). */
/** (`g`: a position, `Location.near`: latitude in `nlow`, longitude in `nhigh`; position.ts) */
/**
 * (`l`: a string longer than MAX_INDEXED_STRING normalized characters, whole in `value`, next to its
 * `s` row holding the first ones; in no index but the resource's: string-sql.ts reads it per resource)
 */
export const KIND = { token: 't', string: 's', reference: 'r', date: 'd', number: 'n', text: 'x', owner: 'o', position: 'g', long: 'l' } as const;
export type RowKind = (typeof KIND)[keyof typeof KIND];

export const KIND_OF: Record<IndexKind, RowKind> = {
  token: KIND.token,
  string: KIND.string,
  reference: KIND.reference,
  date: KIND.date,
  number: KIND.number,
  position: KIND.position,
};

/** Value columns, in the order the indexer fills them. */
export const INDEX_COLUMNS = [
  { name: 'param', type: 'text' },
  { name: 'kind', type: 'text' },
  /** token system; quantity system */
  { name: 'system', type: 'text' },
  /** token code or uri; normalized string; reference (`Type/id` or URL); quantity unit code */
  { name: 'value', type: 'text' },
  /** token display/text, normalized (`:text`) */
  { name: 'text', type: 'text' },
  /** the original string when it differs from the normalized one (`:exact`) */
  { name: 'exact', type: 'text' },
  { name: 'target_type', type: 'text' },
  { name: 'target_id', type: 'text' },
  { name: 'low', type: 'timestamptz' },
  { name: 'high', type: 'timestamptz' },
  { name: 'nlow', type: 'numeric' },
  { name: 'nhigh', type: 'numeric' },
  { name: 'narrative', type: 'tsvector' },
  { name: 'content', type: 'tsvector' },
] as const;

export type IndexRowFields = Partial<Record<(typeof INDEX_COLUMNS)[number]['name'], unknown>>;

const AT = Object.fromEntries(INDEX_COLUMNS.map((c, i) => [c.name, i])) as Record<(typeof INDEX_COLUMNS)[number]['name'], number>;
const EMPTY_ROW: unknown[] = INDEX_COLUMNS.map(() => null);

/** A row of the index table in column order (value columns; `withLookupKeys` appends the keys). */
export function indexRow(fields: IndexRowFields): unknown[] {
  // only the fields given (3 to 6 of 14): reading every column name off objects of many shapes cost more
  const row: unknown[] = EMPTY_ROW.slice();
  for (const name in fields) {
    const v = fields[name as keyof IndexRowFields];
    if (v !== undefined) row[AT[name as keyof typeof AT]] = v;
  }
  return row;
}

/** Lookup keys, after the value columns; what every search lookup starts from. */
export const KEY_COLUMNS = [
  /** token and reference: `search_hash(type|param|value)` */
  { name: 'hash', type: 'bigint' },
  /** token with a system: `search_hash(type|param|system|value)` */
  { name: 'shash', type: 'bigint' },
  /** string (and long string), date, number, position: `search_hash(type|param)` */
  { name: 'phash', type: 'bigint' },
  /** date: 0 under a day, 1 under 366 days, 2 longer or open (narrows a date window's range scan) */
  { name: 'span', type: 'smallint' },
] as const;

const DAY_MS = 86_400_000;

/**
 * Appends the lookup keys to a value row (`indexRow`) of a resource of `resourceType`: exactly
 * what the former generated columns computed (`search_hash` is the MD5 prefix `searchHash`
 * reproduces; the date span from `high - low`, open ends and missing bounds class 2).
 */
export function withLookupKeys(resourceType: string, row: unknown[]): unknown[] {
  const kind = row[AT.kind];
  const param = row[AT.param] as string;
  const value = (row[AT.value] as string | null) ?? '';
  const system = row[AT.system] as string | null;
  const token = kind === KIND.token;
  const owner = kind === KIND.owner;
  const keys = keysOf(resourceType, param);
  row.push(
    token || kind === KIND.reference ? keys.hash(value) : null,
    // an owner date row: the hash its reference row has (`system` holds the reference parameter)
    token && system !== null ? keys.hash(value, system) : owner ? keysOf(resourceType, system!).hash(value) : null,
    kind === KIND.string || kind === KIND.long || kind === KIND.date || kind === KIND.number || kind === KIND.position || owner ? keys.phash : null,
    kind === KIND.date ? spanClass(row[AT.low], row[AT.high]) : null,
  );
  return row;
}

/**
 * Owner date rows of one resource's value rows: each date value again (`param` the date parameter,
 * `low`/`high` the value) for each reference to a Patient (`system` the reference parameter, `value`
 * the reference), so that its lookup keys are (shash = the reference row's hash, phash = the date
 * parameter's). The SearchIndexOwnerDates migration indexes them by those keys: a patient's dates of
 * one parameter are one index range (SearchSql, owner page). Composite rows (`$` in the name) are
 * not sort keys; a resource that refers to no Patient gets none.
 */
export function ownerDateRows(rows: unknown[][]): unknown[][] {
  const refs = rows.filter((r) => r[AT.kind] === KIND.reference && r[AT.target_type] === 'Patient');
  if (!refs.length) return [];
  const out: unknown[][] = [];
  for (const d of rows) {
    if (d[AT.kind] !== KIND.date || (d[AT.param] as string).includes('$')) continue;
    for (const r of refs) out.push(indexRow({ param: d[AT.param], kind: KIND.owner, system: r[AT.param], value: r[AT.value], low: d[AT.low], high: d[AT.high] }));
  }
  return out;
}

/**
 * The keys of one parameter of one type, memoized by value: every write looks them up for each
 * of its rows, and a lookup in maps by the strings it already holds costs far less than building
 * `type|param|value` and hashing that text (which `searchHash` would memoize in turn).
 */
class ParamKeys {
  readonly phash: string;
  private readonly byValue = new Map<string, string>();
  private readonly bySystem = new Map<string, Map<string, string>>();

  constructor(private readonly prefix: string) {
    this.phash = searchHash(prefix);
  }

  hash(value: string, system?: string): string {
    const memo = system === undefined ? this.byValue : (this.bySystem.get(system) ?? newMap(this.bySystem, system));
    let h = memo.get(value);
    if (h === undefined) {
      h = searchHash(system === undefined ? `${this.prefix}|${value}` : `${this.prefix}|${system}|${value}`);
      if (value.length <= 200) {
        memo.set(value, h);
        memoized++;
      }
    }
    return h;
  }
}

const MAX_MEMOIZED = 200_000;
let memoized = 0;
let paramKeys = new Map<string, Map<string, ParamKeys>>();

function newMap<V>(parent: Map<string, Map<string, V>>, key: string): Map<string, V> {
  const m = new Map<string, V>();
  parent.set(key, m);
  return m;
}

function keysOf(resourceType: string, param: string): ParamKeys {
  if (memoized >= MAX_MEMOIZED) {
    // bounded: start over (values of one busy parameter refill it quickly)
    paramKeys = new Map();
    memoized = 0;
  }
  const byParam = paramKeys.get(resourceType) ?? newMap(paramKeys, resourceType);
  let keys = byParam.get(param);
  if (!keys) {
    keys = new ParamKeys(`${resourceType}|${param}`);
    byParam.set(param, keys);
  }
  return keys;
}

function spanClass(low: unknown, high: unknown): number {
  if (low === '-infinity' || high === 'infinity') return 2;
  const ms = instantMs(high) - instantMs(low); // NaN (a bound missing) is class 2, as NULL was in SQL
  return ms < DAY_MS ? 0 : ms < 366 * DAY_MS ? 1 : 2;
}

const instantMs = (v: unknown): number => (typeof v === 'string' ? Date.parse(v) : v instanceof Date ? v.getTime() : NaN);

/**
 * The index rows of contained resources (search.html#contained): the same
 * columns, plus the contained resource's type and identity; storage writes
 * and replaces them by the container's key (see the SearchIndexContained
 * migration). `resource_id` is `ContainerType/containerId#containedId`.
 */
export const CONTAINED_TABLE = 'search_index_contained';

const ROW_COLUMNS = [...INDEX_COLUMNS.map((c) => ({ ...c })), ...KEY_COLUMNS.map((c) => ({ ...c, derived: true }))];

export const INDEX_TABLES: IndexTable[] = [
  { table: INDEX_TABLE, columns: ROW_COLUMNS },
  {
    table: CONTAINED_TABLE,
    key: ['container_type', 'container_id'],
    columns: [{ name: 'resource_type', type: 'text' }, { name: 'resource_id', type: 'text' }, ...ROW_COLUMNS],
  },
];

/** The internal criterion `_compartment=Patient/<id>` (auth restrictions): membership of the Patient compartment. */
export const COMPARTMENT_PARAM = '_compartment';

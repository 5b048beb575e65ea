import type { IndexTable } from '../storage/storage.types';
import type { IndexKind } from './search-params';

/**
 * The search index: ONE table (created by migrations/*-SearchIndex.ts), one
 * row per indexed value, keyed by (resource_type, resource_id) — storage
 * writes and deletes the rows in the same statement as the resource. One
 * table rather than one per parameter type because the per-statement cost
 * of a write grows with the number of tables written (measured: five tables
 * cost about twice the database CPU of one for the same rows); partial
 * indexes per kind keep each lookup as narrow as a table of its own. Hash
 * columns are GENERATED in SQL (`search_hash`), so they never travel over the wire.
 */
export const INDEX_TABLE = 'search_index';

/** The `kind` of a row. */
export const KIND = { token: 't', string: 's', reference: 'r', date: 'd', number: 'n', text: 'x' } as const;
export type RowKind = (typeof KIND)[keyof typeof KIND];

export const KIND_OF: Record<IndexKind, RowKind> = {
  token: KIND.token,
  string: KIND.string,
  reference: KIND.reference,
  date: KIND.date,
  number: KIND.number,
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

/** A row of the index table in column order. */
export function indexRow(fields: IndexRowFields): unknown[] {
  return INDEX_COLUMNS.map((c) => fields[c.name] ?? null);
}

/**
 * The index rows of contained resources (search.html#contained): the same
 * columns, plus the contained resource's type and identity; storage writes
 * and replaces them by the container's key (see the SearchIndexContained
 * migration). `resource_id` is `ContainerType/containerId#containedId`.
 */
export const CONTAINED_TABLE = 'search_index_contained';

export const INDEX_TABLES: IndexTable[] = [
  { table: INDEX_TABLE, columns: INDEX_COLUMNS.map((c) => ({ ...c })) },
  {
    table: CONTAINED_TABLE,
    key: ['container_type', 'container_id'],
    columns: [{ name: 'resource_type', type: 'text' }, { name: 'resource_id', type: 'text' }, ...INDEX_COLUMNS.map((c) => ({ ...c }))],
  },
];

/** The internal criterion `_compartment=Patient/<id>` (auth restrictions): membership of the Patient compartment. */
export const COMPARTMENT_PARAM = '_compartment';

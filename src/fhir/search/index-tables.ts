import type { IndexTable } from '../storage/storage.types';
import type { IndexKind } from './search-params';

/**
 * The search index tables (created by migrations/*-SearchIndex.ts). Each row
 * is keyed by (resource_type, resource_id) — storage writes and deletes them
 * with the resource — and the column lists below are the values the indexer
 * extracts, in order. Hash columns are GENERATED in SQL (`search_hash`), so
 * they never travel over the wire.
 */
export const TOKEN_TABLE = 'search_token';
export const STRING_TABLE = 'search_string';
export const REFERENCE_TABLE = 'search_reference';
export const DATE_TABLE = 'search_date';
export const NUMBER_TABLE = 'search_number';
export const TEXT_TABLE = 'search_text';

export const TABLE_OF: Record<IndexKind, string> = {
  token: TOKEN_TABLE,
  string: STRING_TABLE,
  reference: REFERENCE_TABLE,
  date: DATE_TABLE,
  number: NUMBER_TABLE,
};

const text = (name: string) => ({ name, type: 'text' });

export const INDEX_TABLES: IndexTable[] = [
  { table: TOKEN_TABLE, columns: [text('param'), text('system'), text('value'), text('text')] },
  { table: STRING_TABLE, columns: [text('param'), text('value'), text('exact')] },
  { table: REFERENCE_TABLE, columns: [text('param'), text('ref'), text('target_type'), text('target_id')] },
  {
    table: DATE_TABLE,
    columns: [text('param'), { name: 'low', type: 'timestamptz' }, { name: 'high', type: 'timestamptz' }],
  },
  {
    table: NUMBER_TABLE,
    columns: [text('param'), { name: 'low', type: 'numeric' }, { name: 'high', type: 'numeric' }, text('system'), text('code')],
  },
  { table: TEXT_TABLE, columns: [{ name: 'narrative', type: 'tsvector' }, { name: 'content', type: 'tsvector' }] },
];

/** The param name under which a compartment membership is indexed (reference rows `Patient/<id>`). */
export const COMPARTMENT_PARAM = '_compartment';

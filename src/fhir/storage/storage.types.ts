import type { Resource } from 'fhir/r4';

/** One column of a search index table (besides resource_type and resource_id). */
export interface IndexColumn {
  name: string;
  /** PostgreSQL type used to cast the bound array: text, timestamptz, numeric, boolean, integer */
  type: string;
  /** computed from the other columns (lookup keys): not part of the row's identity (row-key.ts) */
  derived?: boolean;
}

/** A search index table: rows keyed by (resource_type, resource_id), written with the resource. */
export interface IndexTable {
  table: string;
  columns: IndexColumn[];
  /** the columns holding the written resource's type and id; default `resource_type`, `resource_id` */
  key?: [string, string];
}

/** Index rows of one resource, per table; each row holds the values of `IndexTable.columns` in order. */
export type IndexRows = Map<string, unknown[][]>;

/**
 * Extracts search index rows from a resource. Provided by the search module;
 * storage writes the rows in the same statement as the resource.
 */
export interface ResourceIndexer {
  readonly tables: IndexTable[];
  extract(resource: Resource): IndexRows;
}

export const RESOURCE_INDEXER = Symbol('RESOURCE_INDEXER');

export type WriteMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A new version of a resource, ready to be written. */
export interface VersionWrite {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: Date;
  deleted: boolean;
  method: WriteMethod;
  /** resource JSON as served; null for a delete */
  content: string | null;
  /** index rows; undefined for a delete */
  index?: IndexRows;
  /** for updates and deletes: the version this write replaces */
  expectedVersion?: number;
}

/** A stored version as read back. */
export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: Date;
  deleted: boolean;
  method?: WriteMethod;
  content: string | null;
  /** read from history: the version created the resource (the first one, or one after a deletion) */
  created?: boolean;
}

/** Extra statement parts written atomically with a set of versions (audit rows). */
export interface WriteExtra {
  /**
   * builds CTE bodies given a parameter binder and the versions the statement
   * writes; returns SQL for each extra CTE. CTEs may select from `w` (the
   * versions) and `written` (the keys actually written). `tag` is unique
   * within the statement: CTE names made from it keep the text the same from
   * one statement to the next (so it can be prepared).
   */
  ctes(bind: (value: unknown, type: string) => string, writes: VersionWrite[], tag: string): string[];
}

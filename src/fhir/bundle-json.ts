import { randomUUID } from 'crypto';
import type { BundleEntry, BundleLink } from 'fhir/r4';

/** A Bundle.entry whose resource is JSON text (as stored): spliced in without parsing. */
export type EntryJson = Omit<BundleEntry, 'resource'> & { resource?: string | object };

export interface BundleJson {
  type: 'searchset' | 'history' | 'batch-response' | 'transaction-response' | 'collection';
  total?: number;
  link?: BundleLink[];
  entry: EntryJson[];
}

/**
 * Serializes a Bundle by string concatenation so stored resources are not
 * parsed and re-serialized (the hot path of search and history).
 */
export function bundleJson(b: BundleJson): string {
  const head: Record<string, unknown> = {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: b.type,
  };
  if (b.total !== undefined) head.total = b.total;
  if (b.link?.length) head.link = b.link;
  const entries = b.entry.map(entryJson);
  const headText = JSON.stringify(head);
  return `${headText.slice(0, -1)},"entry":[${entries.join(',')}]}`;
}

function entryJson(e: EntryJson): string {
  const { resource, ...rest } = e;
  const parts: string[] = [];
  if (rest.fullUrl !== undefined) parts.push(`"fullUrl":${JSON.stringify(rest.fullUrl)}`);
  if (resource !== undefined) parts.push(`"resource":${typeof resource === 'string' ? resource : JSON.stringify(resource)}`);
  for (const [k, v] of Object.entries(rest)) {
    if (k !== 'fullUrl' && v !== undefined) parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  }
  return `{${parts.join(',')}}`;
}

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

/** One entry: fullUrl, resource, then the other fields in their order (no rest copy of the entry: per entry of every page). */
function entryJson(e: EntryJson): string {
  const parts: string[] = [];
  if (e.fullUrl !== undefined) parts.push(`"fullUrl":${JSON.stringify(e.fullUrl)}`);
  const resource = e.resource;
  if (resource !== undefined) parts.push(`"resource":${typeof resource === 'string' ? resource : JSON.stringify(resource)}`);
  for (const k in e) {
    const v = (e as Record<string, unknown>)[k];
    if (k !== 'fullUrl' && k !== 'resource' && v !== undefined) parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  }
  return `{${parts.join(',')}}`;
}

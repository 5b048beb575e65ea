import { Injectable } from '@nestjs/common';
import type { BundleLink } from 'fhir/r4';
import type { Queryable } from '../../database/database';
import { bundleJson, EntryJson } from '../bundle-json';
import { parseDateRange } from '../date-range';
import { badRequest, notFound } from '../errors';
import type { FeedCursor, FeedRow, HistoryCursor, HistoryQuery } from '../storage/history.repository';
import { StorageService } from '../storage/storage.service';
import type { StoredVersion } from '../storage/storage.types';
import { FhirResponse } from './fhir-response';
import type { RequestContext } from './request-context';
import { InteractionsService } from './interactions.service';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

/** Query parameters as an ordered list of [name, value] (repeats kept). */
export type QueryParams = [string, string][];

/** A parsed history request: the spec's newest-first history, or the oldest-first change feed. */
type ParsedHistory = HistoryQuery & { feed?: boolean; feedAfter?: FeedCursor };

/**
 * history at instance, type and system level (http.html §3.1.0.11):
 * newest first, `_since`, `_at`, `_count`, `_type`, keyset paging through
 * `next` links that stay correct while writes go on.
 *
 * With `_sort=_lastUpdated` (type and system level) it is the change feed:
 * oldest first in commit-safe transaction order, and every non-empty page
 * has a `next` link that a client stores and polls later to get exactly the
 * changes it has not seen (see HistoryRepository.feed).
 */
@Injectable()
export class HistoryService {
  constructor(
    private readonly storage: StorageService,
    private readonly interactions: InteractionsService,
  ) {}

  /** `q`: a transaction's connection (its GET entries see its own writes); default the pool. */
  async history(ctx: RequestContext, params: QueryParams, resourceType?: string, id?: string, q?: Queryable): Promise<FhirResponse> {
    if (resourceType) this.interactions.assertType(resourceType);
    const query = this.parse(params, resourceType, id);
    if (query.feed) return this.feed(ctx, params, query, resourceType, q);
    if (id) {
      const current = await this.storage.readCurrent(resourceType!, id, q);
      if (!current) throw notFound(`${resourceType}/${id} is not known`);
    }
    // _count=0: no entries and no next link (search.html _count: never more than requested)
    const rows = query.count === 0 ? [] : await this.storage.historyPage(query, q);
    const page = rows.slice(0, query.count);
    const path = [resourceType, id, '_history'].filter(Boolean).join('/');
    const link: BundleLink[] = [{ relation: 'self', url: this.url(ctx, path, params) }];
    if (rows.length > query.count) {
      const last = page[page.length - 1];
      const cursor: HistoryCursor = {
        lastUpdated: last.lastUpdated.toISOString(),
        resourceType: last.resourceType,
        id: last.id,
        versionId: last.versionId,
      };
      const next = params.filter(([k]) => k !== '_cursor');
      next.push(['_cursor', Buffer.from(JSON.stringify(cursor)).toString('base64url')]);
      link.push({ relation: 'next', url: this.url(ctx, path, next) });
    }
    return {
      status: 200,
      body: bundleJson({ type: 'history', link, entry: page.map((v) => historyEntry(ctx, v)) }),
    };
  }

  /** The change feed page: rows after the cursor; `next` (the client's bookmark) after the last one. */
  private async feed(ctx: RequestContext, params: QueryParams, q: ParsedHistory, resourceType?: string, db?: Queryable): Promise<FhirResponse> {
    const rows: FeedRow[] = q.count === 0 ? [] : await this.storage.history.feed(db ?? this.storage.db, {
      resourceType,
      types: q.types,
      since: q.since,
      count: q.count,
      after: q.feedAfter,
    });
    const path = [resourceType, '_history'].filter(Boolean).join('/');
    const link: BundleLink[] = [{ relation: 'self', url: this.url(ctx, path, params) }];
    const last = rows[rows.length - 1];
    if (last) {
      const next = params.filter(([k]) => k !== '_cursor');
      next.push(['_cursor', encodeFeedCursor({ txId: last.txId, resourceType: last.resourceType, id: last.id, versionId: last.versionId })]);
      link.push({ relation: 'next', url: this.url(ctx, path, next) });
    }
    return { status: 200, body: bundleJson({ type: 'history', link, entry: rows.map((v) => historyEntry(ctx, v)) }) };
  }

  private parse(params: QueryParams, resourceType?: string, id?: string): ParsedHistory {
    const q: ParsedHistory = { resourceType, id, count: DEFAULT_COUNT };
    let cursor: string | undefined;
    for (const [name, value] of params) {
      switch (name) {
        case '_count': {
          if (!/^[0-9]+$/.test(value)) throw badRequest('_count must be a non-negative integer');
          q.count = Math.min(Number(value), MAX_COUNT);
          break;
        }
        case '_since': {
          const r = parseDateRange(value);
          if (!r) throw badRequest(`_since "${value}" is not a valid instant`);
          q.since = r.low;
          break;
        }
        case '_at': {
          const r = parseDateRange(value.replace(/^eq/, ''));
          if (!r) throw badRequest(`_at "${value}" is not a valid date`);
          q.at = r;
          break;
        }
        case '_type': {
          if (resourceType) throw badRequest('_type is only allowed on system history');
          q.types = value.split(',').map((t) => t.trim());
          // a parameter value, not a URL path: an unknown type is the request's error (400), not a missing resource
          for (const t of q.types) if (!this.interactions.isResourceType(t)) throw badRequest(`_type: unknown resource type "${t}"`);
          break;
        }
        case '_cursor':
          cursor = value;
          break;
        case '_sort':
          if (value === '_lastUpdated') q.feed = true;
          else if (value !== '-_lastUpdated') throw badRequest('history _sort must be _lastUpdated or -_lastUpdated');
          break;
        case '_format':
        case '_pretty':
          break;
        default:
          throw badRequest(`unknown history parameter "${name}"`);
      }
    }
    if (q.feed) {
      if (id) throw badRequest('_sort=_lastUpdated (the change feed) is supported at type and system level');
      if (q.at) throw badRequest('_at cannot be combined with _sort=_lastUpdated');
      if (cursor !== undefined) q.feedAfter = decodeFeedCursor(cursor);
    } else if (cursor !== undefined) {
      q.after = decodeCursor(cursor);
    }
    return q;
  }

  private url(ctx: RequestContext, path: string, params: QueryParams): string {
    const qs = new URLSearchParams(params).toString();
    return `${ctx.baseUrl}/${path}${qs ? '?' + qs : ''}`;
  }
}

function decodeCursor(value: string): HistoryCursor {
  try {
    const c = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    if (typeof c.lastUpdated === 'string' && typeof c.resourceType === 'string' && typeof c.id === 'string') {
      return { ...c, versionId: Number(c.versionId) };
    }
  } catch {
    /* fall through */
  }
  throw badRequest('invalid _cursor');
}

/**
 * Change feed cursor: `f.` + base64url of `[txId, type, id, versionId]`,
 * the key of the last row handed out. Opaque to clients; stable across
 * server restarts and processes (it is data, not server state).
 */
function encodeFeedCursor(c: FeedCursor): string {
  return 'f.' + Buffer.from(JSON.stringify([c.txId, c.resourceType, c.id, c.versionId])).toString('base64url');
}

function decodeFeedCursor(value: string): FeedCursor {
  try {
    if (value.startsWith('f.')) {
      const [txId, resourceType, id, versionId] = JSON.parse(Buffer.from(value.slice(2), 'base64url').toString('utf8'));
      if (/^[0-9]+$/.test(txId) && typeof resourceType === 'string' && typeof id === 'string' && Number.isInteger(versionId)) {
        return { txId, resourceType, id, versionId };
      }
    }
  } catch {
    /* fall through */
  }
  throw badRequest('invalid _cursor for the change feed');
}

/** A history Bundle.entry: the version, and how it came to be (request/response). */
export function historyEntry(ctx: RequestContext, v: StoredVersion): EntryJson {
  const method = v.method ?? (v.deleted ? 'DELETE' : 'PUT');
  // 201 for the version that created the resource, a re-create after a delete included, as its write answered
  const created = v.created ?? (v.versionId === 1 && !v.deleted);
  const entry: EntryJson = {
    fullUrl: `${ctx.baseUrl}/${v.resourceType}/${v.id}`,
    request: { method: method as any, url: method === 'POST' ? v.resourceType : `${v.resourceType}/${v.id}` },
    response: {
      status: v.deleted ? '204 No Content' : created ? '201 Created' : '200 OK',
      etag: `W/"${v.versionId}"`,
      lastModified: v.lastUpdated.toISOString(),
    },
  };
  if (!v.deleted && v.content) entry.resource = v.content;
  return entry;
}

import type { Database } from '../../database/database';
import { badRequest } from '../errors';
import { encodeCursor } from '../search/paging';
import type { SearchRestriction, SearchService } from '../search/search.service';
import type { ResourceRow } from '../search/search-sql';

/** Where a page starts: after (`n`) or before (`p`) this resource in the walk's order. */
export interface RecordCursor {
  direction: 'n' | 'p';
  type: string;
  id: string;
}

/** The record as a walk: types in order, each with its own search criteria. */
export interface RecordWalk {
  types: string[];
  criteriaOf(type: string): [string, string][];
  restriction: SearchRestriction;
}

export interface RecordPage {
  rows: ResourceRow[];
  /** more resources lie beyond the page in the direction it was read */
  more: boolean;
}

export function encodeRecordCursor(c: RecordCursor): string {
  return Buffer.from(JSON.stringify([c.direction, c.type, c.id])).toString('base64url');
}

export function decodeRecordCursor(value: string, types: string[]): RecordCursor {
  try {
    const [direction, type, id] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    if ((direction === 'n' || direction === 'p') && types.includes(type) && typeof id === 'string' && id) return { direction, type, id };
  } catch {
    /* fall through */
  }
  throw badRequest('invalid _cursor for this $everything');
}

/**
 * Keyset paging over a patient record (types in a fixed order, ids in
 * order within each type): a page continues from its cursor's (type, id)
 * through the search engine's own keyset (`_cursor`, `_sort=-_id` going
 * back), one search per type until the page is full. Nothing before the
 * cursor is read again, so page N costs what page 1 does, and resources
 * written or deleted meanwhile shift no page (no duplicates, no gaps).
 */
export class RecordPager {
  constructor(
    private readonly db: Database,
    private readonly search: SearchService,
  ) {}

  /** `count` resources after the cursor (or from the start). */
  async forward(walk: RecordWalk, count: number, after?: RecordCursor): Promise<RecordPage> {
    const rows: ResourceRow[] = [];
    const start = after ? walk.types.indexOf(after.type) : 0;
    for (let i = start; i < walk.types.length; i++) {
      const need = count - rows.length;
      // need + 1 rows tell whether more follow; with the page full, one row of a later type does
      const got = await this.typePage(walk, walk.types[i], need, 'n', i === start ? after?.id : undefined);
      rows.push(...got.slice(0, need));
      if (got.length > need) return { rows, more: true };
    }
    return { rows, more: false };
  }

  /** `count` resources before the cursor, in walk order. */
  async backward(walk: RecordWalk, count: number, before: RecordCursor): Promise<RecordPage> {
    const rows: ResourceRow[] = [];
    const start = walk.types.indexOf(before.type);
    for (let i = start; i >= 0; i--) {
      const need = count - rows.length;
      const got = await this.typePage(walk, walk.types[i], need, 'p', i === start ? before.id : undefined);
      rows.push(...got.slice(0, need));
      if (got.length > need) return { rows: rows.reverse(), more: true };
    }
    return { rows: rows.reverse(), more: false };
  }

  /**
   * Up to `need + 1` resources of one type after `from` (ascending ids) or
   * before it (descending), from the type's start or end when `from` is
   * undefined: the search engine's page SQL with its keyset cursor.
   */
  private async typePage(walk: RecordWalk, type: string, need: number, direction: 'n' | 'p', from?: string): Promise<ResourceRow[]> {
    const params: [string, string][] = [...walk.criteriaOf(type), ['_count', String(need)]];
    if (direction === 'p') params.push(['_sort', '-_id']);
    if (from !== undefined) {
      params.push(['_cursor', encodeCursor({ direction: 'n', resourceType: type, id: from, values: direction === 'p' ? [from] : [] })]);
    }
    const page = this.search.pageSql({ resourceType: type, params, restriction: walk.restriction });
    return (await this.db.query<ResourceRow>(page.sql, page.values)).rows;
  }
}

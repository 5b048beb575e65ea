import { badRequest } from '../errors';
import { SqlParams } from '../storage/sql-params';
import type { IndexSource } from './chain-sql';
import type { CriteriaSql } from './criteria-sql';
import { INDEX_TABLE } from './index-tables';
import type { Criterion, Cursor, ParamCriterion, SearchQuery, SortKey } from './search-query';
import { kindOf } from './search-params';

/** A matching row as the page query returns it. */
export interface ResourceRow {
  resource_type: string;
  id: string;
  version_id: number;
  content: string;
  /** sort key values (k0, k1, …) as text */
  [key: string]: unknown;
}

/**
 * The ids of a search of contained resources (see contained.ts) in place of
 * the ordinary ones: an SQL of (resource_type, id) rows, the index tables
 * holding their sort values, and how a page row finds the resource row that
 * holds it (its container's).
 */
export interface ContainedSource {
  sql: string;
  sortTables: string[];
  /** the rows are containers, of any type */
  containers: boolean;
  join?: { columns: string; on: string };
}

interface KeyExpr {
  expr: string;
  descending: boolean;
  /** SQL type to cast cursor values to */
  sqlType: string;
  notNull?: boolean;
}

/**
 * Builds the SQL of a search page: the matches of the criteria (plus the
 * auth restriction), ordered by the `_sort` keys then (resource_type, id),
 * continuing after or before a cursor (keyset paging), `count + 1` rows so
 * the caller knows whether a next page exists.
 */
export class SearchSql {
  constructor(
    private readonly crit: CriteriaSql,
    private readonly q: SearchQuery,
    /** criteria besides the query's own (compartment) */
    private readonly extra: Criterion[] = [],
    /** `_contained=true|both`: the ids come from here */
    private readonly contained?: ContainedSource,
    /** build the owner date rows' page (ownerPage) instead: each statement binds only the parameters it uses */
    ownerRows = false,
  ) {
    const criteria = [...q.criteria, ...extra];
    this.probedParamsOnly = !crit.restricted && criteria.every((c) => c.kind === 'id' || (c.kind === 'param' && c.type !== 'composite'));
    const byLastUpdated = q.sort.some((k) => k.type === '_lastUpdated');
    const fromIndex = !contained && !q.allTypes && !byLastUpdated;
    const merged = fromIndex ? this.mergeableDateCriteria(criteria) : new Map<number, ParamCriterion[]>();
    const rest = criteria.filter((c) => ![...merged.values()].some((m) => m.includes(c as ParamCriterion)));
    const opaque = <T>(fn: () => T): T => (this.probedParamsOnly ? crit.withOpaqueValues(fn) : fn());
    if (ownerRows) {
      // a date sort over a patient's resources: from owner date rows (see ownerPage)
      const fits = fromIndex && q.sort[0]?.type === 'date' && [...merged.keys()].every((i) => i === 0);
      this.owner = fits ? opaque(() => crit.ownerSource(rest, q.types, q.sort[0], merged.get(0) ?? [])) : undefined;
      this.ownerCoversAll = merged.has(0);
      this.mergedKeys = [];
      return;
    }
    // sorted by `_lastUpdated` (a column of the resource row) the resource table is read in that order and
    // each row checked, which stops early when matches are common; a compartment is a bounded set, read
    // from the index and sorted instead (a small one would otherwise cost a read of the whole table)
    const compartmentOnly = !contained && !q.allTypes && byLastUpdated;
    this.indexSource = fromIndex ? opaque(() => crit.indexSource(rest, q.types)) : compartmentOnly ? crit.compartmentSource(rest, q.types) : undefined;
    // without an index source every criterion stays in the WHERE clause (where())
    this.mergedKeys = this.indexSource ? [...merged].map(([i, cs]) => this.sortLateral(q.sort[i], i, cs)) : [];
  }

  /** The matches from owner date rows with their first sort value `a.v` (CriteriaSql.ownerSource), when they fit. */
  private readonly owner?: { from: string; where: string[] };

  /** A date criterion on the first sort parameter: a resource without a value of it does not match. */
  private readonly ownerCoversAll: boolean = false;

  /** Sort keys joined as part of the source (they also filter): JOIN LATERAL … HAVING, by sort key index. */
  private readonly mergedKeys: { index: number; join: string }[];

  /** no auth restriction, and only `_id` and plain (non-composite) parameters: see planFitsAllValues */
  private readonly probedParamsOnly: boolean;

  /** the matching ids straight from the index (see CriteriaSql.indexSource), when the criteria allow */
  private readonly indexSource?: IndexSource;

  /**
   * Whether one plan fits every value of this statement, so it may be prepared (planned once per
   * connection). True when an anchor criterion drives the ids and the others are per-id probes of plain
   * parameters (CriteriaSql keeps probes from being flattened into joins): the plan's shape is then fixed
   * by the SQL. Chains, `_has`, full text, contained resources and auth restrictions leave the join order
   * to the planner, which needs the values (their selectivity differs by orders of magnitude).
   */
  get planFitsAllValues(): boolean {
    return this.indexSource !== undefined && this.probedParamsOnly;
  }

  /** `FROM` and `WHERE` of the matching ids: the index source, else the resource table with the criteria. */
  private source(): { from: string; where: string[] } {
    if (this.contained) return { from: `(${this.contained.sql}) a`, where: [] };
    if (this.indexSource) return { from: `(${this.indexSource.sql}) a${this.mergedKeys.map((k) => `\n  ${k.join}`).join('')}`, where: [] };
    return { from: 'resource a', where: [this.where()] };
  }

  /**
   * Date criteria on the parameter a sort key sorts by (`date=ge2020&_sort=-date`), by sort key index:
   * the key's per-resource read of the parameter's rows also decides them (`HAVING bool_or(…)`), one
   * index-only probe where a probe for the criterion and another for the key each read the same rows.
   * Not the anchor, which drives the source.
   */
  private mergeableDateCriteria(criteria: Criterion[]): Map<number, ParamCriterion[]> {
    const out = new Map<number, ParamCriterion[]>();
    const anchor = this.crit.anchorOf(criteria);
    this.q.sort.forEach((k, i) => {
      if (k.type !== 'date') return;
      const same = criteria.filter(
        (c): c is ParamCriterion => c.kind === 'param' && c.type === 'date' && c.code === k.code && c !== anchor && c.modifier === undefined && c.missing === undefined,
      );
      if (same.length) out.set(i, same);
    });
    return out;
  }

  /** The matching (resource_type, id) rows, unordered (a branch of a `_contained=both` search). */
  idsSql(): string {
    const { from, where } = this.source();
    return `SELECT a.resource_type, a.id FROM ${from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
  }

  get p(): SqlParams {
    return this.crit.p;
  }

  /** The conditions over the resource table `a` (when the ids do not come from the index alone). */
  where(): string {
    const a = 'a';
    const parts: string[] = [];
    if (!this.q.allTypes) {
      parts.push(this.q.types.length === 1 ? `a.resource_type = ${this.p.bind(this.q.types[0], 'text')}` : `a.resource_type = ANY(${this.p.bind(this.q.types, 'text[]')})`);
    }
    // index rows exist only for live resources: a positive index criterion already excludes deleted ones
    // (and the page's id scan can then stay index-only)
    if (!this.liveByIndex()) parts.push('NOT a.deleted');
    const criteria = [...this.q.criteria, ...this.extra];
    if (criteria.length) parts.push(this.crit.all(criteria, a, this.q.types));
    const r = this.crit.restrictionSql(a, this.q.types);
    if (r) parts.push(r);
    return parts.join('\n  AND ');
  }

  /**
   * The page from owner date rows (CriteriaSql.ownerSource) when the search fits: its first sort key
   * is a date, its anchor a reference to Patients, and the cursor (if any) past a resource with a
   * value. `complete(n)`: whether `n` rows are the page, else the caller runs `page` (the resources
   * without a value of the sort parameter sort last and come only from there). Undefined otherwise.
   */
  ownerPage(limit: number): { sql: string; values: unknown[]; keyCount: number; prepared: boolean; complete: (rows: number) => boolean } | undefined {
    const c = this.q.cursor;
    if (!this.owner || (c && c.values[0] === null)) return undefined;
    const backward = c?.direction === 'p';
    // before a cursor with a value there are only resources with one (they sort first)
    const complete = (rows: number) => rows >= limit || this.ownerCoversAll || backward;
    return { ...this.page(limit, this.owner), prepared: this.probedParamsOnly, complete };
  }

  page(limit: number, owner?: { from: string; where: string[] }): { sql: string; values: unknown[]; keyCount: number } {
    // from owner date rows the first key is the source's `a.v`, not a join
    const keys = this.q.sort.map((s, i) => (owner && i === 0 ? { ...this.keyExpr(s, i), expr: 'a.v' } : this.keyExpr(s, i)));
    const joins = this.q.sort.map((s, i) => (owner && i === 0 ? undefined : this.keyJoin(s, i))).filter((j): j is string => j !== undefined);
    const backward = this.q.cursor?.direction === 'p';
    const cursor = this.q.cursor ? [this.keyset(keys, this.q.cursor)] : [];
    const order = [
      ...keys.map((k) => `${k.expr} ${k.descending !== backward ? 'DESC' : 'ASC'}${k.notNull ? '' : ` NULLS ${backward ? 'FIRST' : 'LAST'}`}`),
      ...this.tailKeys().map((k) => `${k.expr} ${backward ? 'DESC' : 'ASC'}`),
    ];
    // the page's ids first (index-only where the criteria allow), then the rows of just those; an `_id`
    // key is the id column itself (an index source selects only the ids: search.html#sort on `_id`)
    const column = (k: KeyExpr, i: number) => (k.expr === 'a.id' ? 'p.id' : `p.k${i}`);
    const inner = ['a.resource_type', 'a.id', ...keys.flatMap((k, i) => (k.expr === 'a.id' ? [] : [`${k.expr}::text AS k${i}`]))];
    const outerOrder = [
      ...keys.map((k, i) => `${column(k, i)}::${k.sqlType} ${k.descending !== backward ? 'DESC' : 'ASC'}${k.notNull ? '' : ` NULLS ${backward ? 'FIRST' : 'LAST'}`}`),
      ...this.tailKeys().map((k) => `p.${k.expr.slice(2)} ${backward ? 'DESC' : 'ASC'}`),
    ];
    const join = this.contained?.join ?? { columns: '', on: 'r.resource_type = p.resource_type AND r.id = p.id' };
    const sql = `SELECT r.resource_type, r.id, r.version_id, r.content${keys.map((k, i) => `, ${column(k, i)} AS k${i}`).join('')}${join.columns}
FROM (${this.firstIds(inner, joins, cursor, order, limit, owner)}) p
JOIN resource r ON ${join.on}
ORDER BY ${outerOrder.join(', ')}`;
    return { sql, values: this.p.values, keyCount: keys.length };
  }

  /**
   * The first `limit` matching ids (with `columns`) in `order`, past the `extra` conditions (a cursor).
   * Ids straight from the index with no sort key joined: the index source's DISTINCT, the ORDER BY and the
   * LIMIT are one statement level, where the planner knows only `limit` rows are wanted and walks the
   * (hash, resource_id) index in id order, stopping after them; as a subquery of the page it planned for
   * every match (a common code: 36,000 rows sorted, 41 ms → 0.4 ms).
   */
  private firstIds(columns: string[], joins: string[], extra: string[], order: string[], limit: number, owner?: { from: string; where: string[] }): string {
    const { from, where } = owner ?? this.source();
    const conds = [...where, ...extra];
    const direct = !owner && this.indexSource && joins.length === 0 && this.mergedKeys.length === 0 ? this.indexSource : undefined;
    // the limit as a literal: bound, the planner of a prepared statement's generic plan does not know how
    // few rows are wanted, costs it above the custom plans and so plans every execution anew (~150 µs)
    const tail = (source: string) => `${source}${conds.map((c) => `\n      AND ${c}`).join('')}
  ORDER BY ${order.join(', ')}
  LIMIT ${pageLimit(limit)}`;
    // several index scans: the first ids of each (each scan walks its index in id order and stops), then
    // the first of those (PostgreSQL does not merge the scans in order by itself: it reads every id)
    if (direct?.branches && columns.length === 2) {
      return `SELECT DISTINCT a.resource_type, a.id FROM (${direct.branches.map((b) => `(${tail(b)})`).join('\n  UNION ALL ')}) a
  ORDER BY ${order.join(', ')}
  LIMIT ${pageLimit(limit)}`;
    }
    if (direct) return tail(direct.sql);
    return `SELECT ${columns.join(', ')}
  FROM ${from}${joins.map((j) => `\n  ${j}`).join('')}
  WHERE ${conds.length ? conds.join('\n  AND ') : 'TRUE'}
  ORDER BY ${order.join(', ')}
  LIMIT ${pageLimit(limit)}`;
  }

  /**
   * Does some criterion require index rows of the match itself (which only live resources have)? Not
   * `_has` and `_list`: they read other resources' reference rows, which still name a deleted target.
   */
  private liveByIndex(): boolean {
    if (this.extra.length) return false; // the compartment includes the Patient itself by id
    return this.q.criteria.some((c) => (c.kind === 'param' && c.missing === undefined && c.modifier !== 'not' && c.modifier !== 'not-in') || c.kind === 'chain' || c.kind === 'text');
  }

  /** The first `limit` matches in id order, with their versions (findMatches). */
  matches(limit: number): { sql: string; values: unknown[] } {
    const ids = ['a.resource_type', 'a.id'];
    const sql = `SELECT r.resource_type, r.id, r.version_id FROM (${this.firstIds(ids, [], [], ids, limit)}) p
      JOIN resource r ON r.resource_type = p.resource_type AND r.id = p.id ORDER BY r.id`;
    return { sql, values: this.p.values };
  }

  count(): { sql: string; values: unknown[] } {
    const { from, where } = this.source();
    return { sql: `SELECT count(*)::int AS n FROM ${from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`, values: this.p.values };
  }

  private keyExpr(s: SortKey, i: number): KeyExpr {
    if (s.type === '_id') return { expr: 'a.id', descending: s.descending, sqlType: 'text', notNull: true };
    if (s.type === '_lastUpdated') return { expr: this.indexSource ? `lu${i}.last_updated` : 'a.last_updated', descending: s.descending, sqlType: 'timestamptz', notNull: true };
    const sqlType = s.type === 'date' ? 'timestamptz' : s.type === 'number' || s.type === 'quantity' ? 'numeric' : 'text';
    return { expr: `s${i}.v`, descending: s.descending, sqlType };
  }

  /**
   * The sort value of a multi-valued parameter: the lowest for ascending, the
   * highest for descending (search.html §3.1.1.5.5 _sort).
   */
  private keyJoin(s: SortKey, i: number): string | undefined {
    // ids from the index: the resource row holds `_lastUpdated`
    if (s.type === '_lastUpdated' && this.indexSource) return `JOIN resource lu${i} ON lu${i}.resource_type = a.resource_type AND lu${i}.id = a.id`;
    if (s.type === '_id' || s.type === '_lastUpdated' || this.mergedKeys.some((k) => k.index === i)) return undefined;
    const x = `sx${i}`;
    const tables = this.contained?.sortTables ?? [INDEX_TABLE];
    const value = this.keyValue(s, x);
    const rows = (table: string) => `FROM ${table} ${x} WHERE ${this.keyRows(s, x)}`;
    if (tables.length === 1) return `LEFT JOIN LATERAL (SELECT ${value.agg}(${value.column}) AS v ${rows(tables[0])}) s${i} ON TRUE`;
    const union = tables.map((t) => `SELECT ${value.column} AS c ${rows(t)}`).join(' UNION ALL ');
    return `LEFT JOIN LATERAL (SELECT ${value.agg}(u.c) AS v FROM (${union}) u) s${i} ON TRUE`;
  }

  /** A date sort key that also decides date criteria on its parameter (mergeableDateCriteria): an inner join. */
  private sortLateral(s: SortKey, i: number, criteria: ParamCriterion[]): { index: number; join: string } {
    const x = `sx${i}`;
    const value = this.keyValue(s, x);
    const having = criteria.map((c) => `bool_or(${this.crit.dateRowCondition(c, x, this.q.types)})`).join(' AND ');
    return { index: i, join: `JOIN LATERAL (SELECT ${value.agg}(${value.column}) AS v FROM ${INDEX_TABLE} ${x} WHERE ${this.keyRows(s, x)} HAVING ${having}) s${i} ON TRUE` };
  }

  /** The aggregate and column of a sort key's rows `x`. */
  private keyValue(s: SortKey, x: string): { agg: string; column: string } {
    const kind = kindOf(s.type)!;
    const column = kind === 'date' ? (s.descending ? 'high' : 'low') : kind === 'number' ? (s.descending ? 'nhigh' : 'nlow') : 'value';
    return { agg: s.descending ? 'max' : 'min', column: `${x}.${column}` };
  }

  /** The rows `x` of resource `a` holding a sort key's parameter (dates by kind and phash: index-only). */
  private keyRows(s: SortKey, x: string): string {
    const rows = s.type === 'date' ? this.crit.dateRows(x, this.q.types, s.code) : this.crit.paramRows(x, this.q.types, s.code);
    return `${x}.resource_type = a.resource_type AND ${x}.resource_id = a.id AND ${rows}`;
  }

  /** The final, unique keys: (resource_type, id), or just id when one type is searched. */
  private tailKeys(): KeyExpr[] {
    const id: KeyExpr = { expr: 'a.id', descending: false, sqlType: 'text', notNull: true };
    const typed = this.q.types.length > 1 || this.q.allTypes || this.contained?.containers;
    return typed ? [{ expr: 'a.resource_type', descending: false, sqlType: 'text', notNull: true }, id] : [id];
  }

  /** Rows strictly after (or before) the cursor row in the page order. */
  private keyset(keys: KeyExpr[], c: Cursor): string {
    const valid = (v: string | null, type: string) =>
      v === null || (type === 'timestamptz' ? !Number.isNaN(Date.parse(v)) : type === 'numeric' ? /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(v) : true);
    if (c.values.length !== keys.length || keys.some((k, i) => !valid(c.values[i], k.sqlType))) throw badRequest('invalid _cursor for this search');
    const forward = c.direction === 'n';
    const tail = this.tailKeys();
    const all = [
      ...keys.map((k, i) => ({ ...k, value: c.values[i] })),
      ...tail.map((k) => ({ ...k, value: k.expr === 'a.id' ? c.id : c.resourceType })),
    ];
    const build = (i: number): string => {
      const k = all[i];
      const v = k.value === null ? null : this.p.bind(k.value, k.sqlType);
      const after = `${k.expr} ${k.descending === forward ? '<' : '>'} ${v}`;
      // nulls sort last in either direction
      const beyond = k.notNull
        ? after
        : forward
          ? v === null
            ? 'FALSE'
            : `(${after} OR ${k.expr} IS NULL)`
          : v === null
            ? `${k.expr} IS NOT NULL`
            : after;
      if (i === all.length - 1) return beyond;
      const equal = v === null ? `${k.expr} IS NULL` : `${k.expr} = ${v}`;
      return `(${beyond} OR (${equal} AND ${build(i + 1)}))`;
    };
    return build(0);
  }
}

/** A page's row limit as SQL text: a non-negative integer (the server's own `_count` + 1, never client text). */
function pageLimit(limit: number): string {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new Error(`page limit must be a non-negative integer, got ${limit}`);
  return String(limit);
}

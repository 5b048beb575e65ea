import { Inject, Injectable, OnModuleInit, Optional } from '@nestjs/common';
import type { QueryResult, QueryResultRow } from 'pg';
import type { BundleLink, OperationOutcomeIssue } from 'fhir/r4';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { Database, Queryable, queryPrepared } from '../../database/database';
import { bundleJson, EntryJson } from '../bundle-json';
import { badRequest, FhirError, operationOutcome } from '../errors';
import type { FhirResponse } from '../rest/fhir-response';
import type { RequestContext } from '../rest/request-context';
import { SqlParams } from '../storage/sql-params';
import { ResourceValidator } from '../validation/resource-validator';
import { checkContainedQuery, containedSource, isContainedId, materializeContained } from './contained';
import { CriteriaSql } from './criteria-sql';
import { COMPARTMENT_PARAM } from './index-tables';
import { OwnerDatesState } from './owner-dates';
import { nearEntrySearch, Position } from './position';
import { encodeCursor } from './paging';
import { shapeResource } from './result-shaping';
import { IncludeResult, MAX_INCLUDE_ITERATIONS, SearchIncludes } from './search-includes';
import { SearchParser } from './search-parser';
import type { Criterion, SearchQuery } from './search-query';
import { assertSearchable, SearchParameterRegistry } from './search-params';
import { READ_ONLY_TYPES } from '../rest/allowed-methods';
import { ResourceRow, SearchSql } from './search-sql';
import { Subsumption } from './subsumption';

export interface SearchRequest {
  /** undefined: system-level search over `_type` */
  resourceType?: string;
  /** ordered query parameters, repeats kept */
  params: [string, string][];
  /** compartment search: `Patient/123/Observation` */
  compartment?: { resourceType: string; id: string };
  /** auth-imposed criteria; when absent the registered restriction provider (if any) is asked */
  restriction?: SearchRestriction;
  /** run on this connection (a transaction's GET entries see its own writes); default: the pool */
  q?: Queryable;
}

/**
 * Extra criteria the caller's authorization imposes (SMART scopes), applied
 * in SQL to every resource a search touches: matches, _include/_revinclude,
 * chains and _has. For each resource type: `false` = the type is not
 * allowed at all; otherwise a list of alternatives (OR), each a list of
 * search parameter pairs that must all hold (AND). An empty list of
 * alternatives means unrestricted. The internal parameter
 * `_compartment=Patient/123` limits to the Patient compartment.
 */
export interface SearchRestriction {
  criteriaFor(resourceType: string): [string, string][][] | false;
}

/** Derives the restriction of a request (the auth module registers one). */
export type RestrictionProvider = (ctx: RequestContext) => SearchRestriction | undefined;

export interface Match {
  resourceType: string;
  id: string;
  versionId: number;
}

/** FHIR search (search.html) over the search index tables. */
@Injectable()
export class SearchService implements OnModuleInit {
  readonly parser: SearchParser;
  private restrictionProvider?: RestrictionProvider;
  private readonly baseUrl: string;
  /** CodeSystem hierarchies and ValueSet expansion (cached), shared with the terminology operations */
  readonly subsumption: Subsumption;
  private readonly ownerDates: OwnerDatesState;

  constructor(
    private readonly db: Database,
    readonly registry: SearchParameterRegistry,
    @Inject(APP_CONFIG) config: AppConfig,
    @Optional() validator?: ResourceValidator,
  ) {
    this.baseUrl = config.fhirBaseUrl;
    this.parser = new SearchParser(registry, this.baseUrl);
    const terminology = () => validator?.profiles.terminology;
    this.subsumption = new Subsumption(db, registry, (url) => terminology()?.findCodeSystem(url), (url) => terminology()?.findValueSet(url));
    this.ownerDates = new OwnerDatesState(db);
  }

  async onModuleInit(): Promise<void> {
    await this.ownerDates.refresh();
  }

  /** The auth module's hook: every search of a request gets this restriction. */
  setRestrictionProvider(provider: RestrictionProvider): void {
    this.restrictionProvider = provider;
  }

  async search(ctx: RequestContext, request: SearchRequest): Promise<FhirResponse> {
    const restriction = request.restriction ?? this.restrictionProvider?.(ctx);
    const { q, statement } = this.prepare(request, ctx.prefer.handling === 'lenient', restriction);
    const db = request.q ?? this.db;
    await this.subsumption.resolve(q.criteria, request.q);
    if (q.summary === 'count' || q.count === 0) {
      const total = await this.count(statement(), db);
      return this.reply(ctx, request, q, [], [], total, undefined);
    }
    const backward = q.cursor?.direction === 'p';
    const { rows, keyCount } = await this.firstPage(q, statement, db);
    const more = rows.length > q.count;
    const matches = q.contained === 'false' ? rows.slice(0, q.count) : materializeContained(rows.slice(0, q.count));
    if (backward) matches.reverse();

    const includes = q.include.length || q.revinclude.length
      ? await new SearchIncludes(db, this.registry, () => this.criteria(restriction)).resolve(matches, q.include, q.revinclude)
      : ({ rows: [], truncated: false } as IncludeResult);
    if (includes.truncated) {
      q.issues.push({ severity: 'warning', code: 'too-costly', diagnostics: 'more resources were included than one page returns; the rest were left out' });
    }
    if (includes.iterationsCut) {
      q.issues.push({ severity: 'warning', code: 'too-costly', diagnostics: `:iterate followed references ${MAX_INCLUDE_ITERATIONS} levels deep and stopped; deeper resources were left out` });
    }
    let total: number | undefined;
    if (q.total === 'accurate') total = await this.count(statement(), db);
    else if (!q.cursor && !more && q.total !== 'none') total = matches.length; // the whole result is this page
    // search.html#total `estimate`: the planner's guess, but never fewer than this page shows there are;
    // under a token's restriction the count itself (bounded by it): the planner's statistics are over every
    // patient's data, which a bounded token must not sample
    else if (q.total === 'estimate') total = restriction ? await this.count(statement(), db) : Math.max(await this.estimate(statement()), matches.length + (more ? 1 : 0));

    const links = { next: backward || more ? matches[matches.length - 1] : undefined, previous: (backward ? more : !!q.cursor) ? matches[0] : undefined };
    return this.reply(ctx, request, q, matches, includes.rows, total, links, keyCount);
  }

  /**
   * The rows of the page (`count + 1`): from owner date rows where they fit and every resource has
   * them (owner-dates.ts), unless those leave the page short (SearchSql.ownerPage); else the usual way.
   */
  private async firstPage(
    q: SearchQuery,
    statement: (ownerRows?: boolean) => SearchSql,
    db: Queryable,
  ): Promise<{ rows: ResourceRow[]; keyCount: number }> {
    const owner = this.ownerPage(q, statement);
    if (owner) {
      const rows = (await this.run<ResourceRow>(owner.sql, owner.values, db, owner.prepared)).rows;
      if (owner.complete(rows.length)) return { rows, keyCount: owner.keyCount };
    }
    const sql = statement();
    const page = sql.page(q.count + 1);
    return { rows: (await this.run<ResourceRow>(page.sql, page.values, db, sql.planFitsAllValues)).rows, keyCount: page.keyCount };
  }

  /** The SQL of a search's first page, as search() runs it first (benchmarks EXPLAIN it). */
  pageSql(request: SearchRequest): { sql: string; values: unknown[] } {
    const { q, statement } = this.prepare(request, false, request.restriction);
    return this.ownerPage(q, statement) ?? statement().page(q.count + 1);
  }

  /** The owner date rows' page (SearchSql.ownerPage), built only for a date sort once the rows are ready. */
  private ownerPage(q: SearchQuery, statement: (ownerRows?: boolean) => SearchSql): ReturnType<SearchSql['ownerPage']> {
    return q.sort[0]?.type === 'date' && this.ownerDates.usable ? statement(true).ownerPage(q.count + 1) : undefined;
  }

  /** Parses and checks a search; `statement()` builds a fresh SQL builder (each statement binds its own parameters). */
  private prepare(request: SearchRequest, lenient: boolean, restriction: SearchRestriction | undefined) {
    const { types, allTypes } = this.typesOf(request);
    const listPatients = request.compartment?.resourceType === 'Patient' ? [request.compartment.id] : undefined;
    const q = this.parser.parse(types, allTypes, request.params, { lenient, typeLevel: request.resourceType !== undefined, listPatients });
    checkContainedQuery(q, (message) => {
      if (!lenient) throw FhirError.of(400, 'not-supported', `${message} is not supported`);
      q.issues.push({ severity: 'warning', code: 'not-supported', diagnostics: `ignored: ${message}` });
    });
    if (request.resourceType && !this.criteria(restriction).typeAllowed(request.resourceType)) {
      throw FhirError.of(403, 'forbidden', `searching ${request.resourceType} is not permitted`);
    }
    const statement = (ownerRows = false) => {
      const crit = this.criteria(restriction);
      const extra = request.compartment ? this.compartment(request.compartment, types) : [];
      if (q.contained === 'false') return new SearchSql(crit, q, extra, undefined, ownerRows);
      const ordinary = q.contained === 'both' ? new SearchSql(crit, q, extra) : undefined;
      return new SearchSql(crit, q, extra, containedSource(crit, q, extra, ordinary));
    };
    return { q, statement };
  }

  /**
   * The resources of one type matching search parameters (conditional
   * create/update/delete, conditional references, granular scopes). Runs on
   * `q` (a transaction) when given. At most `limit` matches are returned.
   */
  async findMatches(
    resourceType: string,
    params: [string, string][],
    opts: { q?: Queryable; limit?: number; restriction?: SearchRestriction } = {},
  ): Promise<Match[]> {
    if (!this.registry.isResourceType(resourceType)) throw badRequest(`unknown resource type "${resourceType}"`);
    const query = this.parser.parse([resourceType], false, params, { criteriaOnly: true });
    await this.subsumption.resolve(query.criteria, opts.q);
    const crit = this.criteria(opts.restriction);
    if (!crit.typeAllowed(resourceType)) return [];
    const sql = new SearchSql(crit, query);
    const m = sql.matches(Math.max(1, opts.limit ?? 1000));
    const r = await this.run<{ resource_type: string; id: string; version_id: number }>(m.sql, m.values, opts.q, sql.planFitsAllValues);
    return r.rows.map((x) => ({ resourceType: x.resource_type, id: x.id, versionId: x.version_id }));
  }

  private criteria(restriction?: SearchRestriction): CriteriaSql {
    return new CriteriaSql(new SqlParams(), this.registry, this.parser, restriction);
  }

  private typesOf(request: SearchRequest): { types: string[]; allTypes: boolean } {
    if (request.resourceType) return { types: [request.resourceType], allTypes: false };
    const listed = request.params.filter(([k]) => k === '_type').flatMap(([, v]) => v.split(',').map((t) => t.trim()).filter(Boolean));
    for (const t of listed) {
      if (!this.registry.isResourceType(t)) throw badRequest(`_type: unknown resource type "${t}"`);
      assertSearchable(t, '_type');
    }
    if (request.compartment) {
      // `Patient/1/*` (search.html#compartments): every type of the compartment, or those of `_type` among them
      const members = this.registry.compartmentMembers(request.compartment.resourceType).filter((t) => !READ_ONLY_TYPES.has(t));
      if (!members.length) throw FhirError.of(400, 'not-supported', `the ${request.compartment.resourceType} compartment is not supported`);
      const types = listed.length ? [...new Set(listed)].filter((t) => members.includes(t)) : members;
      if (!types.length) throw badRequest(`_type: none of ${listed.join(', ')} is in the ${request.compartment.resourceType} compartment`);
      return { types, allTypes: false };
    }
    return listed.length ? { types: [...new Set(listed)], allTypes: false } : { types: this.registry.resourceTypes, allTypes: true };
  }

  /** `Patient/123/Observation`, `Encounter/9/*`: the R4 compartment (CompartmentDefinition), as the `_compartment` criterion. */
  private compartment(c: { resourceType: string; id: string }, types: string[]): Criterion[] {
    if (!this.registry.compartmentMembers(c.resourceType).length) throw FhirError.of(400, 'not-supported', `the ${c.resourceType} compartment is not supported`);
    return this.parser.criteria(types, [[COMPARTMENT_PARAM, `${c.resourceType}/${c.id}`]], true);
  }

  private async count(sql: SearchSql, db: Queryable = this.db): Promise<number> {
    const c = sql.count();
    return (await this.run<{ n: number }>(c.sql, c.values, db)).rows[0].n;
  }

  /**
   * A search statement; a value PostgreSQL rejects (class 22, data exception) is the client's error.
   * `prepared` when one plan fits all values (SearchSql.planFitsAllValues): planning such a statement
   * costs more than running it (measured: `Observation?subject=…&date=ge…&_sort=-date` 1.5 ms unnamed,
   * 0.5 ms prepared), and its text holds only the query's shape (every value is bound).
   */
  private async run<R extends QueryResultRow>(sql: string, values: unknown[], q: Queryable = this.db, prepared = false): Promise<QueryResult<R>> {
    try {
      return await queryPrepared<R>(q, sql, values, prepared);
    } catch (err: any) {
      if (typeof err?.code === 'string' && err.code.startsWith('22')) throw badRequest('a search value is out of range or malformed');
      throw err;
    }
  }

  /** `_total=estimate`: the planner's row estimate (no scan). */
  private async estimate(sql: SearchSql): Promise<number> {
    const c = sql.count();
    const r = await this.db.query(`EXPLAIN (FORMAT JSON) ${c.sql.replace('count(*)::int AS n', '1')}`, c.values);
    const plan = r.rows[0]['QUERY PLAN'];
    return Math.round((typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan['Plan Rows']);
  }

  private reply(
    ctx: RequestContext,
    request: SearchRequest,
    q: SearchQuery,
    matches: ResourceRow[],
    included: ResourceRow[],
    total: number | undefined,
    links?: { next?: ResourceRow; previous?: ResourceRow },
    keyCount = 0,
  ): FhirResponse {
    const path = request.compartment
      ? `${request.compartment.resourceType}/${request.compartment.id}/${request.resourceType ?? '*'}`
      : (request.resourceType ?? '');
    const url = (params: [string, string][]) => {
      const qs = new URLSearchParams(params).toString();
      return `${ctx.baseUrl}${path ? '/' + path : ''}${qs ? '?' + qs : ''}`;
    };
    const cursorOf = (row: ResourceRow, direction: 'n' | 'p') =>
      encodeCursor({ direction, resourceType: row.resource_type, id: row.id, values: Array.from({ length: keyCount }, (_, i) => (row[`k${i}`] as string | null) ?? null) });
    const self = q.cursor ? [...q.applied, ['_cursor', encodeCursor(q.cursor)] as [string, string]] : q.applied;
    const link: BundleLink[] = [{ relation: 'self', url: url(self) }];
    if (links?.previous) link.push({ relation: 'previous', url: url([...q.applied, ['_cursor', cursorOf(links.previous, 'p')]]) });
    if (links?.next) link.push({ relation: 'next', url: url([...q.applied, ['_cursor', cursorOf(links.next, 'n')]]) });
    const entry: EntryJson[] = [];
    const resourceText = (r: ResourceRow) => shapeResource(r.content, q.summary, q.elements);
    // a contained resource's fullUrl is its container's with `#id` (search.html#contained)
    const near = nearPoints(q);
    for (const r of matches) {
      const search = near.length && r.resource_type === 'Location' ? nearEntrySearch(r.content, near) : { mode: 'match' as const };
      entry.push({ fullUrl: isContainedId(r.id) ? `${ctx.baseUrl}/${r.id}` : `${ctx.baseUrl}/${r.resource_type}/${r.id}`, resource: resourceText(r), search });
    }
    for (const r of included) entry.push({ fullUrl: `${ctx.baseUrl}/${r.resource_type}/${r.id}`, resource: resourceText(r), search: { mode: 'include' } });
    if (q.issues.length) entry.push({ resource: operationOutcome(q.issues as OperationOutcomeIssue[]), search: { mode: 'outcome' } });
    return { status: 200, body: bundleJson({ type: 'searchset', total, link, entry }) };
  }
}

/** The points of the query's `near` criteria (each match's Bundle.entry.search carries its distance to the closest). */
function nearPoints(q: SearchQuery): Position[] {
  return q.criteria.flatMap((c) => (c.kind === 'param' && c.type === 'special' ? c.values.flatMap((v) => (v.near ? [v.near] : [])) : []));
}

import { Queryable, queryPrepared } from '../../database/database';
import { FhirError } from '../errors';
import { CanonicalIncludes, referenceOnly } from './canonical-includes';
import { CriteriaSql } from './criteria-sql';
import { isContainedId } from './contained';
import { CONTAINED_TABLE, INDEX_TABLE } from './index-tables';
import { searchHash } from './normalize';
import type { IncludeSpec } from './search-query';
import type { SearchParameterRegistry } from './search-params';
import type { ResourceRow } from './search-sql';

/** Most resources one page may pull in through _include/_revinclude (bounded fan-out). */
export const MAX_INCLUDES = 1000;
/** Most reference hashes one `_revinclude` statement looks up (`*`: every reference parameter × the page). */
export const MAX_REVINCLUDE_KEYS = 100_000;
/** Rounds of `:iterate` (levels followed past the page's own includes). */
export const MAX_INCLUDE_ITERATIONS = 4;

export interface IncludeResult {
  rows: ResourceRow[];
  truncated: boolean;
  /** `:iterate` stopped at MAX_ITERATIONS rounds with resources left to follow */
  iterationsCut?: boolean;
}

/**
 * _include and _revinclude (search.html §3.1.1.5.7), with `:iterate` and
 * `*`: reference index rows of the page's resources (forward) or pointing at
 * them (reverse, via the reference hash), each included resource filtered by
 * the auth restriction of its type in the same SQL.
 */
export class SearchIncludes {
  private readonly canonical: CanonicalIncludes;

  constructor(
    private readonly db: Queryable,
    private readonly registry: SearchParameterRegistry,
    private readonly newCriteria: () => CriteriaSql,
  ) {
    this.canonical = new CanonicalIncludes(db, registry);
  }

  async resolve(matches: ResourceRow[], include: IncludeSpec[], revinclude: IncludeSpec[]): Promise<IncludeResult> {
    const seen = new Set(matches.map((r) => `${r.resource_type}/${r.id}`));
    const out: ResourceRow[] = [];
    let truncated = false;
    let frontier = matches;
    for (let round = 0; round <= MAX_INCLUDE_ITERATIONS && frontier.length; round++) {
      const specs = [...include, ...revinclude].filter((s) => (round === 0 ? true : s.iterate));
      const added: ResourceRow[] = [];
      for (const spec of specs) {
        const budget = MAX_INCLUDES - out.length - added.length;
        if (budget <= 0) {
          truncated = true;
          break;
        }
        const rows = spec.reverse ? await this.reverse(frontier, spec, budget + 1) : await this.forward(frontier, spec, budget + 1);
        if (rows.length > budget) truncated = true;
        for (const r of rows.slice(0, budget)) {
          const key = `${r.resource_type}/${r.id}`;
          if (seen.has(key)) continue;
          seen.add(key);
          added.push(r);
        }
      }
      out.push(...added);
      frontier = added;
    }
    return { rows: out, truncated, iterationsCut: await this.deeper(frontier, [...include, ...revinclude], seen) };
  }

  /** Whether `:iterate` would still reach a resource not yet seen past the last round (one probe per spec, only then). */
  private async deeper(frontier: ResourceRow[], specs: IncludeSpec[], seen: Set<string>): Promise<boolean> {
    if (!frontier.length) return false;
    for (const spec of specs.filter((s) => s.iterate)) {
      const rows = spec.reverse ? await this.reverse(frontier, spec, seen.size + 1) : await this.forward(frontier, spec, seen.size + 1);
      if (rows.some((r) => !seen.has(`${r.resource_type}/${r.id}`))) return true;
    }
    return false;
  }

  /**
   * An include statement looks rows up by the keys or reference hashes of a page (at most 1,000): one
   * plan fits them all, so it runs prepared, unless an auth restriction adds criteria whose join order
   * needs the values (as for searches, SearchSql.planFitsAllValues).
   */
  private async rows(crit: CriteriaSql, sql: string, values: unknown[]): Promise<ResourceRow[]> {
    return (await queryPrepared<ResourceRow>(this.db, sql, values, !crit.restricted)).rows;
  }

  /** Resources the frontier refers to through the spec's parameters. */
  private async forward(frontier: ResourceRow[], spec: IncludeSpec, limit: number): Promise<ResourceRow[]> {
    const sources = frontier.filter((r) => spec.sourceType === '*' || r.resource_type === spec.sourceType);
    // contained resources (`_containedType=contained`) have their reference rows in their own table
    const contained = sources.filter((r) => isContainedId(r.id));
    const own = contained.length ? sources.filter((r) => !isContainedId(r.id)) : sources;
    const rows = own.length ? await this.forwardFrom(INDEX_TABLE, own, spec, limit) : [];
    return contained.length ? [...rows, ...(await this.forwardFrom(CONTAINED_TABLE, contained, spec, limit))] : rows;
  }

  private async forwardFrom(table: string, sources: ResourceRow[], spec: IncludeSpec, limit: number): Promise<ResourceRow[]> {
    const crit = this.newCriteria();
    const p = crit.p;
    const targets = this.targetTypes(spec);
    const sourceRows = (c: CriteriaSql) =>
      `(x.resource_type, x.resource_id) IN (SELECT * FROM unnest(${c.p.bind(sources.map((r) => r.resource_type), 'text[]')}, ${c.p.bind(sources.map((r) => r.id), 'text[]')}))
        AND ${spec.sourceType === '*' ? 'TRUE' : `(${spec.params.map((code) => c.paramRows('x', [spec.sourceType], code)).join(' OR ')})`}`;
    const conds = [
      sourceRows(crit),
      'x.target_id IS NOT NULL',
      'NOT r.deleted',
    ];
    if (spec.targetType) conds.push(`x.target_type = ${p.bind(spec.targetType, 'text')}`);
    const allowed = targets.filter((t) => crit.typeAllowed(t));
    if (!allowed.length) return [];
    conds.push(`x.target_type = ANY(${p.bind(allowed, 'text[]')})`);
    const r = crit.restrictionSql('r', allowed);
    if (r) conds.push(r);
    const sql = `SELECT DISTINCT r.resource_type, r.id, r.version_id, r.content
      FROM ${table} x JOIN resource r ON r.resource_type = x.target_type AND r.id = x.target_id
      WHERE ${conds.join(' AND ')} LIMIT ${p.bind(limit, 'int')}`;
    const rows = await this.rows(crit, sql, p.values);
    // canonical references (`QuestionnaireResponse:questionnaire`): by the targets' `url`; none in `Reference` elements
    const canonicalOk = spec.sourceType === '*' || !referenceOnly(this.registry, [spec.sourceType], spec.params);
    const canonical = canonicalOk && rows.length < limit ? await this.canonical.forward(this.newCriteria, table, sourceRows, allowed, limit - rows.length) : [];
    return canonical.length ? [...rows, ...canonical] : rows;
  }

  /**
   * Resources of the spec's source type whose parameters refer to the frontier; for `*` (search.html#revinclude:
   * "any search parameter of type=reference"), of every type through each reference parameter that can point
   * at a frontier resource's type.
   */
  private async reverse(frontier: ResourceRow[], spec: IncludeSpec, limit: number): Promise<ResourceRow[]> {
    const crit = this.newCriteria();
    const all = spec.sourceType === '*';
    const sources = (all ? this.registry.resourceTypes : [spec.sourceType]).filter((t) => crit.typeAllowed(t));
    const p = crit.p;
    const literal = frontier.map((r) => `${r.resource_type}/${r.id}`);
    const found = this.canonical.frontierCanonicals(frontier);
    const frontierTypes = new Set(frontier.map((r) => r.resource_type));
    // hashes of `src|param|Type/id` for the stored rows of each parameter (aliases resolved, target types honoured),
    // and of the frontier's canonicals for parameters that may hold canonicals
    const hashes = new Set<string>();
    let viaCanonical = false;
    for (const src of sources) {
      const params = all ? [...this.registry.paramsOf(src).values()].filter((sp) => sp.type === 'reference' && this.registry.targetsOf(sp).some((t) => frontierTypes.has(t))).map((sp) => sp.code) : spec.params;
      for (const code of params) {
        const canonicalRefs = referenceOnly(this.registry, [src], [code]) ? [] : [...found.versioned, ...found.bare];
        if (canonicalRefs.length) viaCanonical = true;
        for (const k of this.registry.storedAs(src, code)) {
          for (const ref of [...literal, ...canonicalRefs]) if (!k.targetType || ref.startsWith(`${k.targetType}/`)) hashes.add(String(searchHash(`${src}|${k.param}|${ref}`)));
        }
      }
    }
    if (!hashes.size) return [];
    const canonicals = viaCanonical ? found : { versioned: [], bare: [] };
    const refs = [...literal, ...canonicals.versioned, ...canonicals.bare];
    if (hashes.size > MAX_REVINCLUDE_KEYS) {
      throw FhirError.of(400, 'too-costly', `_revinclude=${spec.sourceType}:… would look up more than ${MAX_REVINCLUDE_KEYS} references for this page: name the type (_revinclude=[type]:*) or use a smaller _count`);
    }
    const conds = [
      `x.hash = ANY(${p.bind([...hashes], 'bigint[]')})`,
      sources.length === 1 ? `x.resource_type = ${p.bind(sources[0], 'text')}` : 'TRUE',
      `x.value = ANY(${p.bind(refs, 'text[]')})`,
      'NOT r.deleted',
    ];
    if (canonicals.bare.length) conds.push(this.canonical.bareGuard(crit, canonicals.bare));
    const r = crit.restrictionSql('r', sources);
    if (r) conds.push(r);
    const sql = `SELECT DISTINCT r.resource_type, r.id, r.version_id, r.content
      FROM ${INDEX_TABLE} x JOIN resource r ON r.resource_type = x.resource_type AND r.id = x.resource_id
      WHERE ${conds.join(' AND ')} LIMIT ${p.bind(limit, 'int')}`;
    return this.rows(crit, sql, p.values);
  }

  private targetTypes(spec: IncludeSpec): string[] {
    if (spec.targetType) return [spec.targetType];
    if (spec.sourceType === '*') return this.registry.resourceTypes;
    const set = new Set<string>();
    for (const code of spec.params) {
      const sp = this.registry.param(spec.sourceType, code);
      if (sp) for (const t of this.registry.targetsOf(sp)) set.add(t);
    }
    return [...set];
  }
}

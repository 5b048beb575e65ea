import { Queryable, queryPrepared } from '../../database/database';
import type { CriteriaSql } from './criteria-sql';
import { INDEX_TABLE, KIND } from './index-tables';
import { searchHash } from './normalize';
import type { SearchParameterRegistry } from './search-params';
import type { ResourceRow } from './search-sql';

/**
 * `_include`/`_revinclude` through canonical references (search.html#include: the parameter "must be of
 * type reference", and R4 reference parameters cover `canonical` elements, references.html#canonical:
 * `QuestionnaireResponse:questionnaire`, `PlanDefinition:definition`…). A canonical `url|version` names
 * the resource whose `url` and `version` are those; a bare `url` the most recently updated resource with
 * that `url`. Reference rows of canonicals have no `target_id`; a `url|version` is also indexed as its
 * `url` (index-values.ts `referenceEntries`), which is not a reference of its own.
 */
export class CanonicalIncludes {
  constructor(
    private readonly db: Queryable,
    private readonly registry: SearchParameterRegistry,
  ) {}

  /**
   * Forward: the canonical targets, among `types`, of the sources' reference rows that `sourceRows`
   * selects (SQL over alias `x` of `table`, its values bound in the criteria it is given).
   */
  async forward(newCriteria: () => CriteriaSql, table: string, sourceRows: (crit: CriteriaSql) => string, types: string[], limit: number): Promise<ResourceRow[]> {
    const targets = canonicalTypes(this.registry, types);
    if (!targets.length) return [];
    const source = newCriteria();
    const values = (
      await queryPrepared<{ resource_id: string; value: string }>(
        this.db,
        `SELECT DISTINCT x.resource_type, x.resource_id, x.value FROM ${table} x WHERE ${sourceRows(source)} AND x.kind = '${KIND.reference}' AND x.target_id IS NULL`,
        source.p.values,
      )
    ).rows;
    // per source, a bare `url` that only stands for one of its `url|version` values is not a reference
    const versioned = new Set(values.filter((r) => r.value.includes('|')).map((r) => `${r.resource_id} ${r.value.slice(0, r.value.indexOf('|'))}`));
    const canonicals = [...new Set(values.filter((r) => /^[a-z][a-z0-9+.-]*:/i.test(r.value) && !versioned.has(`${r.resource_id} ${r.value}`)).map((r) => r.value))];
    if (!canonicals.length) return [];
    const hashes = targets.flatMap((t) => this.registry.storedAs(t, 'url').flatMap((k) => canonicals.map((v) => String(searchHash(`${t}|${k.param}|${v}`)))));
    const crit = newCriteria();
    const p = crit.p;
    const conds = [`y.hash = ANY(${p.bind(hashes, 'bigint[]')})`, `y.value = ANY(${p.bind(canonicals, 'text[]')})`, 'NOT r.deleted'];
    const r = crit.restrictionSql('r', targets);
    if (r) conds.push(r);
    const sql = `SELECT resource_type, id, version_id, content FROM (
        SELECT DISTINCT ON (y.value) r.resource_type, r.id, r.version_id, r.content
        FROM ${INDEX_TABLE} y JOIN resource r ON r.resource_type = y.resource_type AND r.id = y.resource_id
        WHERE ${conds.join(' AND ')} ORDER BY y.value, r.last_updated DESC, r.id) c LIMIT ${p.bind(limit, 'int')}`;
    return (await queryPrepared<ResourceRow>(this.db, sql, p.values, !crit.restricted)).rows;
  }

  /**
   * Reverse: the values by which a reference row points at a frontier resource through its canonical,
   * `url|version` and `url` (the latter only from rows that are not the bare form of a `url|version`:
   * see `bareGuard`).
   */
  frontierCanonicals(frontier: ResourceRow[]): { versioned: string[]; bare: string[] } {
    const versioned: string[] = [];
    const bare: string[] = [];
    const types = new Set(canonicalTypes(this.registry, [...new Set(frontier.map((r) => r.resource_type))]));
    for (const row of frontier) {
      if (!types.has(row.resource_type)) continue;
      const { url, version } = canonicalOf(row.content);
      if (!url) continue;
      bare.push(url);
      if (version) versioned.push(`${url}|${version}`);
    }
    return { versioned, bare };
  }

  /** SQL over reference row `x`: false for a bare `url` row standing for one of the same element's `url|version`. */
  bareGuard(crit: CriteriaSql, bare: string[]): string {
    return `NOT (x.target_id IS NULL AND x.value = ANY(${crit.p.bind(bare, 'text[]')}) AND ${versionedSibling('x', 'z', INDEX_TABLE)})`;
  }
}

/**
 * Types among these with a canonical `url`: a uri parameter `url` and a token `version` (the canonical
 * resources; Device's `url` is a network address). References to them may be canonicals, followed by
 * `_include`/`_revinclude` (CanonicalIncludes) and by chains and `_has` (chain-sql.ts).
 */
export function canonicalTypes(registry: SearchParameterRegistry, types: string[]): string[] {
  return types.filter((t) => registry.param(t, 'url')?.type === 'uri' && registry.param(t, 'version')?.type === 'token');
}

/**
 * Parameters `codes` of `sources` hold `Reference`s only (their elements' datatype, reference-kinds.ts:
 * `Flag.subject`, `Provenance.target`): an absolute URL in them is a literal reference, never a
 * canonical, so they are followed by `target_id` alone, even to canonical types. A parameter with any
 * `canonical` element (or one not resolved) is followed both ways: a canonical under this server's
 * base (or relative) is indexed as the `Type/id` it names, with its `target_id`.
 */
export function referenceOnly(registry: SearchParameterRegistry, sources: string[], codes: string[]): boolean {
  const kinds = sources.flatMap((t) => codes.map((c) => registry.referenceKind(t, c))).filter((k) => k !== undefined);
  return kinds.length > 0 && kinds.every((k) => k === 'reference');
}

/**
 * SQL over reference row `x` of `table`: it is the bare `url` a canonical `url|version` of the same
 * resource and parameter is also indexed as (index-values.ts `referenceEntries`), not a reference of its
 * own (`z`: the alias of the row looked for).
 */
export function versionedSibling(x: string, z: string, table: string): string {
  return `EXISTS (SELECT 1 FROM ${table} ${z} WHERE ${z}.resource_type = ${x}.resource_type AND ${z}.resource_id = ${x}.resource_id AND ${z}.param = ${x}.param
          AND ${z}.kind = '${KIND.reference}' AND left(${z}.value, length(${x}.value) + 1) = ${x}.value || '|')`;
}

function canonicalOf(content: string): { url?: string; version?: string } {
  try {
    const r = JSON.parse(content) as { url?: unknown; version?: unknown };
    return { url: typeof r.url === 'string' ? r.url : undefined, version: typeof r.version === 'string' && r.version ? r.version : undefined };
  } catch {
    return {};
  }
}

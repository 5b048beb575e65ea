import type { CriteriaSql } from './criteria-sql';
import { CONTAINED_TABLE, INDEX_TABLE } from './index-tables';
import type { Criterion, SearchQuery } from './search-query';
import type { ContainedSource, ResourceRow, SearchSql } from './search-sql';
import { FHIR_ID } from '../fhir-id';

/**
 * Contained resources in search (search.html#contained): `_contained`
 * (false | true | both) and `_containedType` (container | contained).
 *
 * A contained resource is indexed in `search_index_contained` under its own
 * type with the identity `ContainerType/containerId#containedId` (the
 * `fullUrl` the spec gives it), so the criteria SQL runs unchanged on that
 * table (CriteriaSql.inScope). Access follows the container: a contained
 * resource is visible only when its container is (the auth restriction is
 * applied to the container row).
 */


/** `ContainerType/containerId#containedId`, or undefined when an id is not a valid FHIR id. */
export function containedId(containerType: string, containerId: string | undefined, id: unknown): string | undefined {
  return typeof id === 'string' && FHIR_ID.test(id) && containerId && FHIR_ID.test(containerId) ? `${containerType}/${containerId}#${id}` : undefined;
}

export const isContainedId = (id: string): boolean => id.includes('#');

/** SQL: the container's type, the container's id and the contained id of an identity expression. */
export const containerTypeSql = (id: string) => `split_part(${id}, '/', 1)`;
export const containerIdSql = (id: string) => `split_part(split_part(${id}, '#', 1), '/', 2)`;
export const containedIdSql = (id: string) => `split_part(${id}, '#', 2)`;

/** SQL: `resource c` is the container of the contained resource whose identity is `id`. */
export function containerOf(c: string, id: string): string {
  return `${c}.resource_type = ${containerTypeSql(id)} AND ${c}.id = ${containerIdSql(id)}`;
}

/** Refuses what a search of contained resources cannot do (400; ignored and reported when lenient). */
export function checkContainedQuery(q: SearchQuery, reject: (message: string) => void): void {
  if (q.contained === 'false') return;
  const refused =
    q.containedType === 'container' && q.sort.length
      ? '_sort with _containedType=container (the containers are of other types)'
      : q.sort.some((k) => k.code === '_lastUpdated')
        ? '_sort=_lastUpdated of contained resources (they have no meta.lastUpdated)'
        : undefined;
  if (!refused) return;
  reject(refused);
  q.sort = [];
  q.applied = q.applied.filter(([name]) => name !== '_sort');
}

/**
 * The ids of a contained search, as the page query's source `a`: the
 * matching contained resources (identity ids), or their containers
 * (`_containedType=container`), with the ordinary matches too for `both`.
 */
export function containedSource(crit: CriteriaSql, q: SearchQuery, extra: Criterion[], ordinary?: SearchSql): ContainedSource {
  const criteria = [...q.criteria, ...extra];
  const units = crit.inScope(CONTAINED_TABLE, () => {
    const anchored = q.allTypes ? undefined : crit.indexSource(criteria, q.types)?.sql;
    if (anchored) return anchored;
    const types = crit.p.bind(q.types, 'text[]');
    const conds = [criteria.length ? crit.all(criteria, 'a', q.types) : '', crit.restrictionSql('a', q.types) ?? ''].filter(Boolean);
    // every contained resource has its `_id` row
    return `SELECT a.resource_type, a.id FROM (SELECT u.resource_type, u.resource_id AS id FROM ${CONTAINED_TABLE} u WHERE u.resource_type = ANY(${types}) AND u.param = '_id') a${conds.length ? `\n  WHERE ${conds.join('\n    AND ')}` : ''}`;
  });
  const containers = q.containedType === 'container';
  const matches = containers ? `SELECT DISTINCT ${containerTypeSql('m.id')} AS resource_type, ${containerIdSql('m.id')} AS id FROM (${units}) m` : units;
  const sql = ordinary ? `${ordinary.idsSql()}\n  ${containers ? 'UNION' : 'UNION ALL'}\n  ${matches}` : matches;
  if (containers) return { sql, sortTables: [INDEX_TABLE], containers: true };
  // a page row is a contained resource (read from its container's row) or, for `both`, an ordinary one
  const unit = `strpos(p.id, '#') > 0`;
  return {
    sql,
    sortTables: ordinary ? [INDEX_TABLE, CONTAINED_TABLE] : [CONTAINED_TABLE],
    containers: false,
    join: {
      columns: ', p.resource_type AS match_type, p.id AS match_id',
      on: `r.resource_type = CASE WHEN ${unit} THEN ${containerTypeSql('p.id')} ELSE p.resource_type END AND r.id = CASE WHEN ${unit} THEN ${containerIdSql('p.id')} ELSE p.id END`,
    },
  };
}

/**
 * Page rows of contained resources carry their container's row: each becomes
 * the contained resource itself (type, identity id, JSON). A row whose
 * contained resource is gone (cannot happen within one statement) is dropped.
 */
export function materializeContained(rows: ResourceRow[]): ResourceRow[] {
  const out: ResourceRow[] = [];
  for (const row of rows) {
    const id = row.match_id as string | undefined;
    if (!id || !isContainedId(id)) {
      out.push(row);
      continue;
    }
    const cid = id.slice(id.indexOf('#') + 1);
    const container = JSON.parse(row.content);
    const resource = Array.isArray(container.contained) ? container.contained.find((c: any) => c?.id === cid) : undefined;
    if (resource) out.push({ ...row, resource_type: row.match_type as string, id, content: JSON.stringify(resource) });
  }
  return out;
}

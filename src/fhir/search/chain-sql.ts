import { INDEX_TABLE } from './index-tables';
import type { ChainCriterion, Criterion, HasCriterion } from './search-query';
import { ValueSql } from './value-sql';

/**
 * The matching ids from the index (CriteriaSql.indexSource): `sql` ends in its WHERE clause; with
 * several index scans (values or alternatives ORed), also each scan as its own statement
 * (`branches`, each ending in its WHERE clause), so that a page can take its first ids from each.
 */
export interface IndexSource {
  sql: string;
  branches?: string[];
}

/** The alias of an index source's rows (`a.resource_type`, `a.id`): see CriteriaSql.indexSource. */
export const SOURCE_ROWS = 'a';

/**
 * Criteria that follow references (search.html#chaining, #has): a chain from the referring rows to
 * the targets its own criteria match, `_has` from a resource to the rows referring to it. The base of
 * CriteriaSql, which renders the criteria they nest (`render`) and applies the auth restriction to
 * every resource they reach.
 */
export abstract class ChainSql extends ValueSql {
  abstract render(c: Criterion, a: string, types: string[]): string;
  abstract indexSource(criteria: Criterion[], types: string[]): IndexSource | undefined;
  abstract restrictionSql(a: string, types: string[]): string | undefined;
  abstract restrictionAnd(a: string, types: string[]): string;

  /**
   * A chain as the anchor (`subject:Patient.identifier=…`), when its own criteria can anchor: first the
   * few targets they match (from the index), then the rows referring to them, found by the hash of the
   * reference, with the other criteria probed per id. Without it a common code drives and every row of
   * it is checked against the chain (measured at 1M resources: 480 ms).
   */
  protected chainSource(c: ChainCriterion, rest: Criterion[], types: string[]): string | undefined {
    const targets = this.inScope(INDEX_TABLE, () => this.indexSource([c.inner], c.targets))?.sql;
    if (!targets) return undefined;
    const x = this.alias('an');
    const tg = this.alias('tg');
    const ids = SOURCE_ROWS;
    const s = this.stored(types, c.code);
    const hashes = s.map((k) => `search_hash(${this.text(`${k.type}|${k.param}|`)} || ${tg}.resource_type || '/' || ${tg}.id)`);
    const type = types.length === 1 ? this.text(types[0]) : `${x}.resource_type`;
    // the hash pins type, parameter and target; an alias limited to one target type (`patient` = `subject`
    // of a Patient) needs its row filter
    const conds = s.some((k) => k.targetType) ? [this.paramFilter(x, s)] : [];
    conds.push(...this.probes(() => rest.map((r) => this.render(r, ids, types))));
    const restriction = this.restrictionSql(ids, types);
    if (restriction) conds.push(restriction);
    return `SELECT DISTINCT ${ids}.resource_type, ${ids}.id FROM (${targets}) ${tg}
    JOIN ${this.scope.table} ${x} ON ${x}.hash = ${hashes.length === 1 ? hashes[0] : `ANY(ARRAY[${hashes.join(', ')}])`}
    CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, ${type} AS resource_type) ${ids}
    WHERE TRUE${conds.map((r) => `\n      AND ${r}`).join('')}`;
  }

  /** A chain (`subject:Patient.name=…`) over resource `a`: a reference row of `a` to a live target its criteria match. */
  protected chain(c: ChainCriterion, a: string, types: string[]): string {
    const x = this.alias('ch');
    const t = this.alias('t');
    const s = this.stored(types, c.code);
    const hashes = s.map((k) => `search_hash(${this.text(`${k.type}|${k.param}|`)} || ${t}.resource_type || '/' || ${t}.id)`);
    return `EXISTS (SELECT 1 FROM ${this.scope.table} ${x} JOIN resource ${t} ON ${t}.resource_type = ${x}.target_type AND ${t}.id = ${x}.target_id
          WHERE ${x}.resource_type = ${a}.resource_type AND ${x}.resource_id = ${a}.id AND ${this.paramFilter(x, s)}
            AND ${t}.resource_type = ${c.targets.length === 1 ? this.text(c.targets[0]) : `ANY(${this.p.bind(c.targets, 'text[]')})`}
            AND ${x}.target_type = ${t}.resource_type AND ${x}.hash = ${hashes.length === 1 ? hashes[0] : `ANY(ARRAY[${hashes.join(', ')}])`}
            AND NOT ${t}.deleted AND ${this.inScope(INDEX_TABLE, () => this.render(c.inner, t, c.targets) + this.restrictionAnd(t, c.targets))})`;
  }

  /** `_has:Observation:patient:code=…` over resource `a`: a row of the source type referring to `a` whose resource the criteria match. */
  protected has(c: HasCriterion, a: string, types: string[]): string {
    // the referring rows themselves (they exist only for live resources), found by the hash of the reference to `a`
    const x = this.alias('hs');
    const src = `${x}src`;
    const s = this.stored([c.sourceType], c.refCode);
    const hashes = s.map((k) => `search_hash(${this.text(`${k.type}|${k.param}|`)} || ${a}.resource_type || '/' || ${a}.id)`);
    return `EXISTS (SELECT 1 FROM ${INDEX_TABLE} ${x} CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, ${this.text(c.sourceType)} AS resource_type) ${src}
          WHERE ${x}.hash = ${hashes.length === 1 ? hashes[0] : `ANY(ARRAY[${hashes.join(', ')}])`}
            AND ${this.inScope(INDEX_TABLE, () => this.probes(() => this.render(c.inner, src, [c.sourceType])) + this.restrictionAnd(src, [c.sourceType]))})`;
  }
}

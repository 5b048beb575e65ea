import { canonicalTypes, referenceOnly, versionedSibling } from './canonical-includes';
import { INDEX_TABLE, KIND } from './index-tables';
import type { ChainCriterion, Criterion, HasCriterion } from './search-query';
import { type Stored, ValueSql } from './value-sql';

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
 *
 * A reference to a canonical resource (canonical-includes.ts `canonicalTypes`) may also be a canonical
 * (references.html#canonical: QuestionnaireResponse.questionnaire, PlanDefinition.action.definition…;
 * not through a parameter whose elements are all `Reference`s, canonical-includes.ts `referenceOnly`): a
 * reference row with no `target_id` whose value is the target's `url|version` (that version) or bare
 * `url` (every resource with that `url`), as `_revinclude` reads it. The target's own `url` rows hold
 * both forms (index-values.ts `versionedOwnUrl`), so each side finds the other by hash; a bare `url` row
 * that only stands for a `url|version` of the same element (`referenceEntries`) is no reference of its own.
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
    const hashes = this.refHashes(s, `${tg}.resource_type || '/' || ${tg}.id`);
    // canonical targets: also the hashes of references naming their `url` rows' values
    const canonical = this.canonicalTargets(types, c.code, c.targets);
    const key = canonical.length ? this.alias('k') : undefined;
    const join = key
      ? `CROSS JOIN LATERAL (SELECT unnest(ARRAY[${hashes.join(', ')}]) AS hash UNION ALL ${this.canonicalKeys(tg, canonical, s)}) ${key}
    JOIN ${this.scope.table} ${x} ON ${x}.hash = ${key}.hash`
      : `JOIN ${this.scope.table} ${x} ON ${x}.hash = ${oneOf(hashes)}`;
    const type = types.length === 1 ? this.text(types[0]) : `${x}.resource_type`;
    // the hash pins type, parameter and target; an alias limited to one target type (`patient` = `subject`
    // of a Patient) needs its row filter
    const conds = s.some((k) => k.targetType) ? [this.paramFilter(x, s)] : [];
    if (key) conds.push(`(${x}.target_id IS NOT NULL OR NOT ${versionedSibling(x, this.alias('cz'), this.scope.table)})`);
    conds.push(...this.probes(() => rest.map((r) => this.render(r, ids, types))));
    const restriction = this.restrictionSql(ids, types);
    if (restriction) conds.push(restriction);
    return `SELECT DISTINCT ${ids}.resource_type, ${ids}.id FROM (${targets}) ${tg}
    ${join}
    CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, ${type} AS resource_type) ${ids}
    WHERE TRUE${conds.map((r) => `\n      AND ${r}`).join('')}`;
  }

  /** A chain (`subject:Patient.name=…`) over resource `a`: a reference row of `a` to a live target its criteria match. */
  protected chain(c: ChainCriterion, a: string, types: string[]): string {
    const x = this.alias('ch');
    const t = this.alias('t');
    const s = this.stored(types, c.code);
    const hashes = this.refHashes(s, `${t}.resource_type || '/' || ${t}.id`);
    const literal = `EXISTS (SELECT 1 FROM ${this.scope.table} ${x} JOIN resource ${t} ON ${t}.resource_type = ${x}.target_type AND ${t}.id = ${x}.target_id
          WHERE ${x}.resource_type = ${a}.resource_type AND ${x}.resource_id = ${a}.id AND ${this.paramFilter(x, s)}
            AND ${t}.resource_type = ${this.typeIn(c.targets)}
            AND ${x}.target_type = ${t}.resource_type AND ${x}.hash = ${oneOf(hashes)}
            AND NOT ${t}.deleted AND ${this.inScope(INDEX_TABLE, () => this.render(c.inner, t, c.targets) + this.restrictionAnd(t, c.targets))})`;
    const canonical = this.canonicalTargets(types, c.code, c.targets);
    return canonical.length ? `(${literal} OR ${this.canonicalChain(c, canonical, a, s)})` : literal;
  }

  /** The canonical types among `targets` that parameter `code` of `types` may name by canonical: none for `Reference` elements. */
  private canonicalTargets(types: string[], code: string, targets: string[]): string[] {
    return referenceOnly(this.registry, types, [code]) ? [] : canonicalTypes(this.registry, targets);
  }

  /**
   * A chain through a canonical: a reference row of `a` with no `target_id` naming a `url` row (that
   * value: `url|version` or bare `url`) of a live target among the canonical types its criteria match.
   */
  private canonicalChain(c: ChainCriterion, canonical: string[], a: string, s: Stored): string {
    const x = this.alias('cc');
    const u = this.alias('cu');
    const t = this.alias('t');
    const urls = this.stored(canonical, 'url').map((k) => `search_hash(${this.text(`${k.type}|${k.param}|`)} || ${x}.value)`);
    return `EXISTS (SELECT 1 FROM ${this.scope.table} ${x} JOIN ${INDEX_TABLE} ${u} ON ${u}.hash = ${oneOf(urls)}
          JOIN resource ${t} ON ${t}.resource_type = ${u}.resource_type AND ${t}.id = ${u}.resource_id
          WHERE ${x}.resource_type = ${a}.resource_type AND ${x}.resource_id = ${a}.id AND ${this.paramFilter(x, s)} AND ${x}.target_id IS NULL
            AND NOT ${versionedSibling(x, this.alias('cz'), this.scope.table)}
            AND NOT ${t}.deleted AND ${this.inScope(INDEX_TABLE, () => this.render(c.inner, t, canonical) + this.restrictionAnd(t, canonical))})`;
  }

  /**
   * The hashes by which source rows of `s` refer to target `tg` of the canonical types through its `url`
   * rows: a statement listing them (`AS hash`), for a target found first (chainSource).
   */
  private canonicalKeys(tg: string, canonical: string[], s: Stored): string {
    const u = this.alias('cu');
    const hashes = this.refHashes(s, `${u}.value`);
    return `SELECT unnest(ARRAY[${hashes.join(', ')}]) FROM ${INDEX_TABLE} ${u}
      WHERE ${u}.resource_type = ${tg}.resource_type AND ${u}.resource_id = ${tg}.id AND ${this.urlRows(u, canonical)}`;
  }

  /** Row `u` is a `url` row of a resource of the canonical types (`url` and `url|version`, versionedOwnUrl). */
  private urlRows(u: string, canonical: string[]): string {
    return `${u}.resource_type = ${this.typeIn(canonical)} AND ${u}.kind = '${KIND.token}' AND ${this.paramFilter(u, this.stored(canonical, 'url'))}`;
  }

  private typeIn(types: string[]): string {
    return types.length === 1 ? this.text(types[0]) : `ANY(${this.p.bind(types, 'text[]')})`;
  }

  /** `search_hash(type|param| || value)` for each stored parameter: the hashes of reference rows holding `value`. */
  private refHashes(s: Stored, value: string): string[] {
    return s.map((k) => `search_hash(${this.text(`${k.type}|${k.param}|`)} || ${value})`);
  }

  /** `_has:Observation:patient:code=…` over resource `a`: a row of the source type referring to `a` whose resource the criteria match. */
  protected has(c: HasCriterion, a: string, types: string[]): string {
    // the referring rows themselves (they exist only for live resources), found by the hash of the reference to `a`
    const x = this.alias('hs');
    const src = `${x}src`;
    const s = this.stored([c.sourceType], c.refCode);
    const hashes = this.refHashes(s, `${a}.resource_type || '/' || ${a}.id`);
    const literal = `EXISTS (SELECT 1 FROM ${INDEX_TABLE} ${x} CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, ${this.text(c.sourceType)} AS resource_type) ${src}
          WHERE ${x}.hash = ${oneOf(hashes)}
            AND ${this.inScope(INDEX_TABLE, () => this.probes(() => this.render(c.inner, src, [c.sourceType])) + this.restrictionAnd(src, [c.sourceType]))})`;
    const targets = new Set(this.registry.targetsOf(this.registry.param(c.sourceType, c.refCode)!));
    const canonical = this.canonicalTargets([c.sourceType], c.refCode, types.filter((t) => targets.has(t)));
    return canonical.length ? `(${literal} OR ${this.canonicalHas(c, canonical, a, s)})` : literal;
  }

  /** `_has` through a canonical: a source row with no `target_id` naming one of `a`'s `url` rows' values. */
  private canonicalHas(c: HasCriterion, canonical: string[], a: string, s: Stored): string {
    const u = this.alias('cu');
    const x = this.alias('hs');
    const src = `${x}src`;
    const hashes = this.refHashes(s, `${u}.value`);
    return `EXISTS (SELECT 1 FROM ${this.scope.table} ${u} JOIN ${INDEX_TABLE} ${x} ON ${x}.hash = ${oneOf(hashes)}
          CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, ${this.text(c.sourceType)} AS resource_type) ${src}
          WHERE ${u}.resource_type = ${a}.resource_type AND ${u}.resource_id = ${a}.id AND ${this.urlRows(u, canonical)}
            AND ${x}.target_id IS NULL AND NOT ${versionedSibling(x, this.alias('cz'), INDEX_TABLE)}
            AND ${this.inScope(INDEX_TABLE, () => this.probes(() => this.render(c.inner, src, [c.sourceType])) + this.restrictionAnd(src, [c.sourceType]))})`;
  }
}

/** `= h` or `= ANY(ARRAY[…])`, without the `=`. */
function oneOf(hashes: string[]): string {
  return hashes.length === 1 ? hashes[0] : `ANY(ARRAY[${hashes.join(', ')}])`;
}

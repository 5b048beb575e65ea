import { logger } from '../../logger';
import { SqlParams } from '../storage/sql-params';
import { containedIdSql, containerIdSql, containerOf, containerTypeSql } from './contained';
import { INDEX_TABLE } from './index-tables';
import { dateCondition } from './range-sql';
import type { SearchParser } from './search-parser';
import type { CompartmentCriterion, Criterion, ParamCriterion, SortKey } from './search-query';
import type { SearchParameterRegistry } from './search-params';
import type { SearchRestriction } from './search.service';
import { terminologyValues } from './subsumption';
import { likeEscape } from './string-sql';
import type { Stored } from './value-sql';
import { ChainSql, type IndexSource, SOURCE_ROWS } from './chain-sql';


/** A local reference to a Patient, as reference criteria store them: what owner date rows are keyed by. */
const PATIENT_REF = /^Patient\/[A-Za-z0-9\-.]{1,64}$/;

/** The most index scans an index source appends (values ORed; see CriteriaSql.indexSource). */
const MAX_SCANS = 16;

/**
 * Renders criteria as SQL conditions over a `resource` row alias. Every value
 * is a bound parameter. A criterion on index rows is an EXISTS keyed by the
 * resource plus the value's hash or (phash, value) range, so PostgreSQL can
 * either start from the value index or probe per resource, whichever its
 * statistics say is cheaper.
 */
export class CriteriaSql extends ChainSql {
  private readonly restrictionCache = new Map<string, Criterion[][] | false>();

  constructor(
    p: SqlParams,
    registry: SearchParameterRegistry,
    private readonly parser: SearchParser,
    private readonly restriction?: SearchRestriction,
  ) {
    super(p, registry);
  }

  /** Does an auth restriction bound these searches? */
  get restricted(): boolean {
    return this.restriction !== undefined;
  }

  all(criteria: Criterion[], a: string, types: string[]): string {
    if (criteria.length > 1) {
      const anchor = this.anchorOf(criteria);
      if (anchor) return this.anchored(anchor, criteria, a, types);
    }
    return criteria.length ? criteria.map((c) => this.render(c, a, types)).join(' AND ') : 'TRUE';
  }

  /**
   * A criterion answered from the hash indexes alone (its ids come index-only,
   * in id order), preferring the usually most selective kinds. The other
   * criteria are then checked per id it yields, before the resource row is
   * read: PostgreSQL keeps a semi-join beside the relation it correlates to,
   * so criteria correlated to the resource row would each cost a heap read.
   */
  anchorOf(criteria: Criterion[]): ParamCriterion | undefined {
    const rank = (c: ParamCriterion) => (c.type === 'reference' ? 0 : c.type === 'token' || c.type === 'uri' ? 1 : c.type === 'date' ? 2 : 3);
    const candidates = criteria.filter((c): c is ParamCriterion => c.kind === 'param' && keyable(c));
    return candidates.sort((x, y) => rank(x) - rank(y))[0];
  }

  /**
   * The ids matching the criteria straight from the index, when one criterion
   * can anchor them (`SELECT DISTINCT resource_type, id`): no resource row is
   * read to decide a match (index rows exist only for live resources), and
   * for one hash value the ids come in order, so `ORDER BY id LIMIT n` and a
   * cursor are a short index range. Undefined when the criteria need resource
   * columns (`_lastUpdated`) or none can anchor. The SQL ends in its WHERE
   * clause and names its rows `a` (SOURCE_ROWS): a page may add conditions on
   * `a.resource_type` / `a.id`, ORDER BY and LIMIT to it (SearchSql.page).
   */
  indexSource(criteria: Criterion[], types: string[]): IndexSource | undefined {
    if (criteria.some((c) => c.kind === 'lastUpdated')) return undefined;
    const anchor = this.anchorOf(criteria);
    if (anchor?.type !== 'reference') {
      for (const c of criteria) {
        if (c.kind !== 'chain') continue;
        const sql = this.chainSource(c, criteria.filter((o) => o !== c), types);
        if (sql) return { sql };
      }
    }
    // no anchor: an OR of criteria that each have one (`_filter=code eq a or status eq b`) reads the union
    // of their anchors' ids, and is itself checked per id with the rest
    const anchors = anchor ? [anchor] : this.unionAnchors(criteria);
    if (!anchors) return this.compartmentSource(criteria, types);
    const x = this.alias('an');
    const conds = anchors.flatMap((n) => n.values.map((v) => this.value(x, this.stored(types, n.code), n.type, n.modifier, v)));
    const ids = SOURCE_ROWS;
    const type = types.length === 1 ? this.text(types[0]) : `${x}.resource_type`;
    const rest = this.probes(() => criteria.filter((c) => c !== anchor).map((c) => this.render(c, ids, types)));
    const restriction = this.restrictionSql(ids, types);
    if (restriction) rest.push(restriction);
    const and = rest.map((r) => `\n      AND ${r}`).join('');
    const scan = (where: string) => `SELECT DISTINCT ${ids}.resource_type, ${ids}.id FROM ${this.scope.table} ${x} CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, ${type} AS resource_type) ${ids}
    WHERE ${where}${and}`;
    // one index scan per value (`code=a,b`) or anchor: one scan with `c1 OR c2` is a bitmap OR, which
    // reads the table's pages to return the ids (two common LOINC codes at 1M resources: 27,000 pages);
    // past MAX_SCANS values (a long list of codes) one scan again, rather than a statement of hundreds
    if (conds.length === 1 || conds.length > MAX_SCANS) return { sql: scan(`(${conds.map((c) => c.sql).join(' OR ')})`) };
    const branches = conds.map((c) => scan(c.sql));
    return { sql: `SELECT DISTINCT ${ids}.resource_type, ${ids}.id FROM (${branches.join('\n    UNION ALL ')}) ${ids}\n    WHERE TRUE`, branches };
  }

  /**
   * The ids of a compartment search that no criterion anchors (`Encounter/1/*`, `Patient/1/Observation?status=final`):
   * the index rows referencing the focal resource from the types' compartment parameters, and the focal
   * resource itself where its compartment holds it, each branch with the other criteria probed per id. Without
   * it the resource table is read in page order until the page is full: the whole table for a small compartment.
   */
  compartmentSource(criteria: Criterion[], types: string[]): IndexSource | undefined {
    const c = criteria.find((x): x is CompartmentCriterion => x.kind === 'compartment');
    if (!c || this.contained) return undefined;
    const ids = SOURCE_ROWS;
    const rest = () => {
      const conds = this.probes(() => criteria.filter((o) => o !== c).map((o) => this.render(o, ids, types)));
      const restriction = this.restrictionSql(ids, types);
      return [...conds, ...(restriction ? [restriction] : [])].map((w) => `\n      AND ${w}`).join('');
    };
    const branches: string[] = [];
    const { s, itself } = this.compartmentKeys(c, types);
    if (s.length) {
      const x = this.alias('cs');
      // a stored key may be shared by several types: the row's own type must be one searched
      branches.push(`SELECT DISTINCT ${ids}.resource_type, ${ids}.id FROM ${this.scope.table} ${x} CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, ${x}.resource_type AS resource_type) ${ids}
    WHERE ${this.hashIn(x, s, c.ids.map((id) => `${c.compartment}/${id}`))} AND ${x}.resource_type = ANY(${this.p.bind(types, 'text[]')})${rest()}`);
    }
    if (itself) {
      const r = this.alias('cf');
      branches.push(`SELECT DISTINCT ${ids}.resource_type, ${ids}.id FROM resource ${r} CROSS JOIN LATERAL (SELECT ${r}.id AS id, ${r}.resource_type AS resource_type) ${ids}
    WHERE ${r}.resource_type = ${this.text(c.compartment)} AND ${r}.id = ANY(${this.p.bind(c.ids, 'text[]')}) AND NOT ${r}.deleted${rest()}`);
    }
    if (!branches.length) return undefined;
    if (branches.length === 1) return { sql: branches[0] };
    return { sql: `SELECT DISTINCT ${ids}.resource_type, ${ids}.id FROM (${branches.join('\n    UNION ALL ')}) ${ids}\n    WHERE TRUE`, branches };
  }

  /** A compartment's members among `types`: the stored keys of their compartment parameters, and whether the focal resource itself is one. */
  private compartmentKeys(c: CompartmentCriterion, types: string[]): { s: Stored; itself: boolean } {
    const s = types.flatMap((t) => this.registry.compartmentParams(t, c.compartment).flatMap((code) => this.stored([t], code)));
    return { s, itself: types.includes(c.compartment) && this.registry.compartmentHoldsItself(c.compartment) };
  }

  /** The anchors of the alternatives of an `any` criterion, when every alternative has one. */
  private unionAnchors(criteria: Criterion[]): ParamCriterion[] | undefined {
    for (const c of criteria) {
      if (c.kind !== 'any') continue;
      const anchors = c.alternatives.map((alt) => this.anchorOf(alt));
      if (anchors.every((a) => a !== undefined)) return anchors as ParamCriterion[];
    }
    return undefined;
  }

  /**
   * The matches of a search sorted by a date first, from owner date rows (index-tables.ts
   * `ownerDateRows`), keyed by references to Patients: the anchor's when it is such a reference
   * (`subject=Patient/1`, `patient=1`), else a Patient compartment's (`Patient/1/Observation`, or a
   * patient-scoped restriction: the references from the type's compartment parameters). The rows
   * of those keys and the date parameter are exactly the date values of the resources that match,
   * one index range. Per resource the sort value (`v`) and the date criteria on the sort parameter
   * (`merged`, `HAVING`); the other criteria, and the restriction, are probed per id after. Only
   * resources with a value of the sort parameter come out: with no date criterion on it the caller
   * completes a short page otherwise (SearchSql.ownerPage). Undefined when the criteria do not fit.
   */
  ownerSource(criteria: Criterion[], types: string[], key: SortKey, merged: ParamCriterion[]): { from: string; where: string[] } | undefined {
    if (types.length !== 1 || criteria.some((c) => c.kind === 'lastUpdated')) return undefined;
    const o = this.alias('ow');
    const owner = this.ownerKeys(criteria, types[0], o);
    if (!owner) return undefined;
    const column = key.descending ? 'high' : 'low';
    const having = merged.map((c) => `bool_or(${this.dateRange(c, o)})`);
    const ids = SOURCE_ROWS;
    const rest = this.probes(() => criteria.filter((c) => c !== owner.implied).map((c) => this.render(c, ids, types)));
    const restriction = this.restrictionSql(ids, types);
    if (restriction) rest.push(restriction);
    const from = `(SELECT ${o}.resource_id AS id, ${this.text(types[0])} AS resource_type, ${key.descending ? 'max' : 'min'}(${o}.${column}) AS v
    FROM ${INDEX_TABLE} ${o}
    WHERE ${o}.kind = 'o' AND ${owner.sql} AND ${this.datePhash(o, types, key.code)}
    GROUP BY ${o}.resource_id${having.length ? ` HAVING ${having.join(' AND ')}` : ''}) ${ids}`;
    return { from, where: rest };
  }

  /**
   * The owner date rows' key condition on `o` (shash = hashes of references to Patients) and the
   * criterion it decides by itself (left out of the probes): a reference anchor to Patients, else a
   * compartment criterion, else the restriction's compartment when it has one alternative (the
   * restriction is still probed). Not for Patients themselves (a Patient is in its own compartment
   * by id, not by a reference).
   */
  private ownerKeys(criteria: Criterion[], type: string, o: string): { sql: string; implied?: Criterion } | undefined {
    const anchor = this.anchorOf(criteria);
    if (anchor?.type === 'reference' && anchor.missing === undefined && (anchor.modifier === undefined || anchor.modifier === 'Patient')) {
      const refs = anchor.values.map((v) => v.refs ?? []);
      if (refs.every((r) => r.length && r.every((ref) => PATIENT_REF.test(ref)))) {
        return { sql: this.hashIn(o, this.stored([type], anchor.code), refs.flat(), 'shash'), implied: anchor };
      }
    }
    if (type === 'Patient') return undefined;
    const alts = this.restrictionOf(type);
    const isCompartment = (c: Criterion): c is CompartmentCriterion => c.kind === 'compartment';
    const own = criteria.find(isCompartment);
    const compartment = own ?? (alts && alts.length === 1 ? alts[0].find(isCompartment) : undefined);
    // owner rows are keyed by references to Patients only
    if (compartment?.compartment !== 'Patient') return undefined;
    const stored = this.registry.compartmentParams(type).flatMap((code) => this.stored([type], code));
    if (!stored.length) return undefined;
    return { sql: this.hashIn(o, stored, compartment.ids.map((id) => `Patient/${id}`), 'shash'), implied: own };
  }

  private anchored(anchor: ParamCriterion, criteria: Criterion[], a: string, types: string[]): string {
    const x = this.alias('an');
    const s = this.stored(types, anchor.code);
    const conds = anchor.values.map((v) => this.value(x, s, anchor.type, anchor.modifier, v));
    const outside = criteria.filter((c) => c !== anchor && c.kind === 'lastUpdated');
    const inside = criteria.filter((c) => c !== anchor && c.kind !== 'lastUpdated');
    const type = types.length === 1 ? this.text(types[0]) : `${x}.resource_type`;
    const ids = `${x}ids`;
    const sql = `EXISTS (SELECT 1 FROM ${this.scope.table} ${x} CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, ${type} AS resource_type) ${ids}
        WHERE ${this.rowOf(x, a, types.length > 1)} AND (${conds.map((c) => c.sql).join(' OR ')})${this.probes(() => inside.map((c) => `\n          AND ${this.render(c, ids, types)}`)).join('')})`;
    return [sql, ...outside.map((c) => this.render(c, a, types))].join(' AND ');
  }

  render(c: Criterion, a: string, types: string[]): string {
    switch (c.kind) {
      case 'const':
        return c.value ? 'TRUE' : 'FALSE';
      case 'any':
        return `(${c.alternatives.map((alt) => `(${this.all(alt, a, types)})`).join(' OR ')})`;
      case 'not':
        return `NOT (${this.render(c.inner, a, types)})`;
      case 'id': {
        const ids = this.p.bind(c.ids, 'text[]');
        const id = this.contained ? containedIdSql(`${a}.id`) : `${a}.id`;
        return c.not ? `${id} <> ALL(${ids})` : `${id} = ANY(${ids})`;
      }
      case 'lastUpdated': {
        // a contained resource was last updated with its container (it has no meta.lastUpdated of its own)
        const r = this.contained ? this.alias('lu') : a;
        const conds = c.dates!.map((d) => dateCondition(this.p, d, `${r}.last_updated`, `${r}.last_updated`)).join(' AND ');
        return this.contained ? `EXISTS (SELECT 1 FROM resource ${r} WHERE ${containerOf(r, `${a}.id`)} AND ${conds})` : conds;
      }
      case 'text': {
        // the narrative and content of a contained resource are its container's
        const x = this.alias('ft');
        const ors = c.queries.map((q) => `${x}.${c.column} @@ ${this.p.bind(q, 'tsquery')}`).join(' OR ');
        const key = this.contained ? [containerTypeSql(`${a}.id`), containerIdSql(`${a}.id`)] : [`${a}.resource_type`, `${a}.id`];
        return `EXISTS (SELECT 1 FROM ${INDEX_TABLE} ${x} WHERE ${x}.resource_type = ${key[0]} AND ${x}.resource_id = ${key[1]} AND ${x}.kind = 'x' AND (${ors}))`;
      }
      case 'list': {
        // the List itself is read under the auth restriction, like a `_has` source: a List the token may
        // not read (another patient's) selects nothing, so its existence and entries are not revealed
        const x = this.alias('li');
        const src = `${x}src`;
        const restriction = this.inScope(INDEX_TABLE, () => this.restrictionAnd(src, ['List']));
        const lateral = restriction ? ` CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, 'List'::text AS resource_type) ${src}` : '';
        return `EXISTS (SELECT 1 FROM ${INDEX_TABLE} ${x}${lateral} WHERE ${x}.resource_type = 'List' AND ${x}.resource_id = ANY(${this.p.bind(c.listIds, 'text[]')}) AND ${x}.param = 'item' AND ${x}.target_type = ${a}.resource_type AND ${x}.target_id = ${a}.id${restriction})`;
      }
      case 'chain':
        return this.chain(c, a, types);
      case 'has':
        return this.has(c, a, types);
      case 'compartment':
        return this.compartment(c, a, types);
      case 'param':
        return this.param(c, a, types);
    }
  }

  /**
   * Membership of a compartment (R4 CompartmentDefinition): a reference to the focal resource from one of
   * the type's compartment parameters, or the focal resource itself where its definition says so
   * (`{def}`; the Patient always). Over several types (`Patient/1/*`) the index row must be the resource's
   * own type too: ids are unique within a type only (`ImagingStudy/example` naming the patient must not
   * bring `Account/example`), while the reference hashes of every type are in the one condition.
   */
  private compartment(c: CompartmentCriterion, a: string, types: string[]): string {
    const refs = c.ids.map((id) => `${c.compartment}/${id}`);
    const { s, itself } = this.compartmentKeys(c, types);
    const parts: string[] = [];
    if (s.length) {
      const x = this.alias('cm');
      parts.push(`EXISTS (SELECT 1 FROM ${this.scope.table} ${x} WHERE ${this.rowOf(x, a, types.length > 1)} AND ${this.hashIn(x, s, refs)})`);
    }
    if (itself) {
      parts.push(`(${a}.resource_type = ${this.text(c.compartment)} AND ${a}.id = ANY(${this.p.bind(c.ids, 'text[]')}))`);
    }
    return parts.length ? `(${parts.join(' OR ')})` : 'FALSE';
  }

  /** ` AND <restriction>` for rows of alias `a` of these types, or '' when unrestricted. */
  restrictionAnd(a: string, types: string[]): string {
    const sql = this.restrictionSql(a, types);
    return sql ? ` AND ${sql}` : '';
  }

  /**
   * The auth restriction as SQL over `a`; undefined when it does not restrict
   * these types. A contained resource is seen only through its container:
   * both its own type's restriction and the container's apply.
   */
  restrictionSql(a: string, types: string[]): string | undefined {
    if (!this.restriction) return undefined;
    if (this.contained) {
      const own = this.typeRestriction(a, types);
      const c = this.alias('co');
      const container = this.inScope(INDEX_TABLE, () => this.typeRestriction(c, this.registry.resourceTypes));
      const parts = [own, container && `EXISTS (SELECT 1 FROM resource ${c} WHERE ${containerOf(c, `${a}.id`)} AND ${container})`].filter(Boolean);
      return parts.length ? parts.join(' AND ') : undefined;
    }
    return this.typeRestriction(a, types);
  }

  private typeRestriction(a: string, types: string[]): string | undefined {
    const perType = types.map((t) => ({ t, alts: this.restrictionOf(t) }));
    if (perType.every((x) => x.alts !== false && x.alts.length === 0)) return undefined;
    const cond = (alts: Criterion[][] | false, t: string) =>
      alts === false ? 'FALSE' : alts.length === 0 ? 'TRUE' : `(${alts.map((alt) => `(${this.all(alt, a, [t])})`).join(' OR ')})`;
    if (types.length === 1) return cond(perType[0].alts, types[0]);
    const allowed = perType.filter((x) => x.alts !== false);
    if (allowed.length === 0) return 'FALSE';
    return `(${allowed.map((x) => `(${a}.resource_type = ${this.text(x.t)} AND ${cond(x.alts, x.t)})`).join(' OR ')})`;
  }

  /** false when the type may not be seen at all. */
  typeAllowed(t: string): boolean {
    return this.restrictionOf(t) !== false;
  }

  private restrictionOf(t: string): Criterion[][] | false {
    if (!this.restriction) return [];
    let r = this.restrictionCache.get(t);
    if (r === undefined) {
      const alts = this.restriction.criteriaFor(t);
      try {
        r = alts === false ? false : alts.map((pairs) => this.parser.criteria([t], pairs, true));
        // token :above/:below/:in need terminology read before the SQL (subsumption.ts): not in a restriction
        if (r && r.some((alt) => terminologyValues(alt).length)) throw new Error(':above/:below/:in cannot be used in a restriction');
      } catch (err) {
        // fail closed: a restriction the server cannot apply hides the type
        logger.warn({ resourceType: t, err: (err as Error).message }, 'search restriction could not be applied');
        r = false;
      }
      this.restrictionCache.set(t, r);
    }
    return r;
  }

  private param(c: ParamCriterion, a: string, types: string[]): string {
    const x = this.alias('x');
    if (c.type === 'composite') {
      if (c.missing !== undefined) {
        // search.html#modifiers: a composite has a value when one element holds every component (not only the
        // first: an Observation with a code and no value has no `code-value-quantity`), as its value search
        // reads them: its tuple rows (composite.ts, `code$…` or `code#…`)
        const names = [...new Set(this.stored(types, c.code).map((k) => k.param))].flatMap((n) => [`${n}$`, `${n}#`]);
        const like = names.map((n) => `${x}.param LIKE ${this.text(`${likeEscape(n)}%`)}`).join(' OR ');
        return `${c.missing ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${this.scope.table} ${x} WHERE ${x}.resource_type = ${a}.resource_type AND ${x}.resource_id = ${a}.id AND (${like})${this.scope.probing ? ' OFFSET 0' : ''})`;
      }
      return `(${c.values.map((v) => this.composite(c, v, a, types)).join(' OR ')})`;
    }
    // derived rows: Reference.identifier (`:identifier`), Identifier.type with the value (`:of-type`)
    const derived = (c.type === 'reference' && c.modifier === 'identifier') || (c.type === 'token' && c.modifier === 'of-type');
    const s = this.stored(types, c.code, derived ? `:${c.modifier}` : '');
    if (c.missing !== undefined) return this.exists(a, x, c.type === 'reference' ? withPresenceRows(s) : s, [{ sql: 'TRUE', keyed: false }], c.missing);
    const conds = c.values.map((v) => (derived ? this.token(x, s, v) : this.value(x, s, c.type, c.modifier, v)));
    return this.exists(a, x, s, conds, c.modifier === 'not' || c.modifier === 'not-in');
  }
}

/**
 * search.html#modifiers `:missing`: a Reference holding only an `identifier` is a value of the parameter
 * (the element is there, and `:identifier` finds it), so its `:identifier` rows count as present. Not for
 * an alias by target type (`patient` = `subject` of a Patient): such a reference's type is not known.
 * The `:local` rows count too (a `#id` to a contained resource, or a resource itself: index-values.ts
 * localTarget), for an alias when they name its type (FHIRPath `resolve()` of `#id` is the contained one).
 */
function withPresenceRows(s: Stored): Stored {
  return [...s, ...s.filter((k) => !k.targetType).map((k) => ({ ...k, param: `${k.param}:identifier` })), ...s.map((k) => ({ ...k, param: `${k.param}:local` }))];
}

/** Can the criterion's matches be read from the hash indexes alone (every value a keyed condition, see value())? */
function keyable(c: ParamCriterion): boolean {
  if (c.missing !== undefined || c.type === 'composite') return false;
  switch (c.type) {
    case 'token':
      return (c.modifier === undefined && c.values.every((v) => v.token?.code !== undefined)) || c.modifier === 'above' || c.modifier === 'below';
    case 'uri':
      return c.modifier === undefined || c.modifier === 'above';
    case 'reference':
      return c.modifier !== 'identifier'; // a bare id, Type/id, URL or :Type: hashes of refs
    default:
      return c.modifier === undefined || c.modifier === 'exact' || c.modifier === 'contains';
  }
}

import { logger } from '../../logger';
import { SqlParams } from '../storage/sql-params';
import { compositeOf, compositeSuffix, foldedKeys } from './composite';
import { containedIdSql, containerIdSql, containerOf, containerTypeSql } from './contained';
import { INDEX_TABLE, KIND, RowKind } from './index-tables';
import { normalizeString, prefixUpperBound, searchHash, MAX_INDEXED_STRING } from './normalize';
import type { SearchParser } from './search-parser';
import { dateCondition, numberCondition, spanHint } from './range-sql';
import { uriAbove, uriBelowBase } from './value-parsers';
import type { Criterion, NumberValue, ParamCriterion, ParamValue, TokenValue } from './search-query';
import { canonicalSearchValue, UCUM_SUFFIX } from './ucum';
import type { SearchParameterRegistry } from './search-params';
import type { SearchRestriction } from './search.service';

/** Small required ValueSets known from the definitions (url → codes), for `:in` / `:not-in`. */
export type ValueSetCodes = (url: string) => string[] | undefined;

/**
 * Renders criteria as SQL conditions over a `resource` row alias. Every value
 * is a bound parameter. A criterion on index rows is an EXISTS keyed by the
 * resource plus the value's hash or (phash, value) range, so PostgreSQL can
 * either start from the value index or probe per resource, whichever its
 * statistics say is cheaper.
 */
export class CriteriaSql {
  private n = 0;
  private readonly scope: RenderScope = { probing: false, table: INDEX_TABLE };
  private readonly restrictionCache = new Map<string, Criterion[][] | false>();

  constructor(
    readonly p: SqlParams,
    private readonly registry: SearchParameterRegistry,
    private readonly parser: SearchParser,
    private readonly valueSets: ValueSetCodes,
    private readonly restriction?: SearchRestriction,
  ) {}

  private alias(prefix: string): string {
    return `${prefix}${this.n++}`;
  }

  private text(v: string): string {
    return this.p.bind(v, 'text');
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
  private anchorOf(criteria: Criterion[]): ParamCriterion | undefined {
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
   * columns (`_lastUpdated`) or none can anchor.
   */
  indexSource(criteria: Criterion[], types: string[]): string | undefined {
    const anchor = this.anchorOf(criteria);
    if (!anchor || criteria.some((c) => c.kind === 'lastUpdated')) return undefined;
    const x = this.alias('an');
    const s = this.stored(types, anchor.code);
    const conds = anchor.values.map((v) => this.value(x, s, anchor.type, anchor.modifier, v));
    const ids = `${x}ids`;
    const type = types.length === 1 ? this.text(types[0]) : `${x}.resource_type`;
    const rest = this.probes(() => criteria.filter((c) => c !== anchor).map((c) => this.render(c, ids, types)));
    const restriction = this.restrictionSql(ids, types);
    if (restriction) rest.push(restriction);
    return `SELECT DISTINCT ${ids}.resource_type, ${ids}.id FROM ${this.scope.table} ${x} CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, ${type} AS resource_type) ${ids}
    WHERE (${conds.map((c) => c.sql).join(' OR ')})${rest.map((r) => `\n      AND ${r}`).join('')}`;
  }

  private probes<T>(fn: () => T): T {
    return this.scoped('probing', true, fn);
  }

  /** Renders `fn`'s criteria over rows whose values are in `table` (contained resources: CONTAINED_TABLE). */
  inScope<T>(table: string, fn: () => T): T {
    return this.scoped('table', table, fn);
  }

  private scoped<K extends keyof RenderScope, T>(key: K, value: RenderScope[K], fn: () => T): T {
    const before = this.scope[key];
    this.scope[key] = value;
    try {
      return fn();
    } finally {
      this.scope[key] = before;
    }
  }

  private get contained(): boolean {
    return this.scope.table !== INDEX_TABLE;
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
        WHERE ${x}.resource_id = ${a}.id AND (${conds.map((c) => c.sql).join(' OR ')})${this.probes(() => inside.map((c) => `\n          AND ${this.render(c, ids, types)}`)).join('')})`;
    return [sql, ...outside.map((c) => this.render(c, a, types))].join(' AND ');
  }

  render(c: Criterion, a: string, types: string[]): string {
    switch (c.kind) {
      case 'const':
        return c.value ? 'TRUE' : 'FALSE';
      case 'any':
        return `(${c.alternatives.map((alt) => `(${this.all(alt, a, types)})`).join(' OR ')})`;
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
        const x = this.alias('li');
        return `EXISTS (SELECT 1 FROM ${INDEX_TABLE} ${x} WHERE ${x}.resource_type = 'List' AND ${x}.resource_id = ANY(${this.p.bind(c.listIds, 'text[]')}) AND ${x}.param = 'item' AND ${x}.target_type = ${a}.resource_type AND ${x}.target_id = ${a}.id)`;
      }
      case 'chain': {
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
      case 'has': {
        // the referring rows themselves (they exist only for live resources), found by the hash of the reference to `a`
        const x = this.alias('hs');
        const src = `${x}src`;
        const s = this.stored([c.sourceType], c.refCode);
        const hashes = s.map((k) => `search_hash(${this.text(`${k.type}|${k.param}|`)} || ${a}.resource_type || '/' || ${a}.id)`);
        return `EXISTS (SELECT 1 FROM ${INDEX_TABLE} ${x} CROSS JOIN LATERAL (SELECT ${x}.resource_id AS id, ${this.text(c.sourceType)} AS resource_type) ${src}
          WHERE ${x}.hash = ${hashes.length === 1 ? hashes[0] : `ANY(ARRAY[${hashes.join(', ')}])`}
            AND ${this.inScope(INDEX_TABLE, () => this.probes(() => this.render(c.inner, src, [c.sourceType])) + this.restrictionAnd(src, [c.sourceType]))})`;
      }
      case 'compartment':
        return this.compartment(c.patientIds, a, types);
      case 'param':
        return this.param(c, a, types);
    }
  }

  /**
   * Membership of the Patient compartment (R4 CompartmentDefinition): a
   * reference to the patient from one of the type's compartment parameters,
   * or the Patient itself.
   */
  private compartment(patientIds: string[], a: string, types: string[]): string {
    const refs = patientIds.map((id) => `Patient/${id}`);
    const s = types.flatMap((t) => this.registry.compartmentParams(t).flatMap((code) => this.stored([t], code)));
    const parts: string[] = [];
    if (s.length) {
      const x = this.alias('cm');
      parts.push(`EXISTS (SELECT 1 FROM ${this.scope.table} ${x} WHERE ${x}.resource_id = ${a}.id AND ${this.hashIn(x, s, refs)})`);
    }
    if (types.includes('Patient')) parts.push(`(${a}.resource_type = 'Patient' AND ${a}.id = ANY(${this.p.bind(patientIds, 'text[]')}))`);
    return parts.length ? `(${parts.join(' OR ')})` : 'FALSE';
  }

  // ---- restrictions ------------------------------------------------------------

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
      } catch (err) {
        // fail closed: a restriction the server cannot apply hides the type
        logger.warn({ resourceType: t, err: (err as Error).message }, 'search restriction could not be applied');
        r = false;
      }
      this.restrictionCache.set(t, r);
    }
    return r;
  }

  // ---- parameters ----------------------------------------------------------------

  /** The index rows holding a parameter on each type (aliases resolved), with a suffix for derived params. */
  private stored(types: string[], code: string, suffix = ''): Stored {
    // derived rows (`:identifier`, composites) carry no target type
    return types.flatMap((type) =>
      this.registry.storedAs(type, code).map((sp) => ({ type, param: sp.param + suffix, targetType: suffix ? undefined : sp.targetType })),
    );
  }

  /** The filter selecting a parameter's rows (aliases resolved), for sorting and includes. */
  paramRows(x: string, types: string[], code: string): string {
    return this.paramFilter(x, this.stored(types, code));
  }

  /** Rows of the stored parameters (with their target type filter for `X.where(resolve() is T)` aliases). */
  private paramFilter(x: string, s: Stored): string {
    const names = [...new Set(s.map((k) => k.param))];
    if (s.every((k) => !k.targetType) && (names.length === 1 || new Set(s.map((k) => k.type)).size === 1)) {
      return names.length === 1 ? `${x}.param = ${this.text(names[0])}` : `${x}.param = ANY(${this.p.bind(names, 'text[]')})`;
    }
    const multi = new Set(s.map((k) => k.type)).size > 1;
    const alts = s.map((k) =>
      [multi ? `${x}.resource_type = ${this.text(k.type)}` : '', `${x}.param = ${this.text(k.param)}`, k.targetType ? `${x}.target_type = ${this.text(k.targetType)}` : '']
        .filter(Boolean)
        .join(' AND '),
    );
    return `(${[...new Set(alts)].map((a) => `(${a})`).join(' OR ')})`;
  }

  /** `x.hash` = the hash of `type|param|value` for one of the stored parameters (64-bit hashes are trusted, see the migration). */
  private hashIn(x: string, s: Stored, values: string[], column = 'hash', infix = ''): string {
    const hashes = [...new Set(s.flatMap((k) => values.map((v) => searchHash(`${k.type}|${k.param}|${infix}${v}`))))];
    return hashes.length === 1 ? `${x}.${column} = ${this.p.bind(hashes[0], 'bigint')}` : `${x}.${column} = ANY(${this.p.bind(hashes, 'bigint[]')})`;
  }

  /** `x.phash` = the hash of `type|param` (rows of one kind: the partial index of that kind applies). */
  private phashIn(x: string, s: Stored, kind: RowKind): string {
    const hashes = [...new Set(s.map((k) => searchHash(`${k.type}|${k.param}`)))];
    const ph = hashes.length === 1 ? `${x}.phash = ${this.p.bind(hashes[0], 'bigint')}` : `${x}.phash = ANY(${this.p.bind(hashes, 'bigint[]')})`;
    return this.scope.probing ? ph : `${x}.kind = '${kind}' AND ${ph}`;
  }

  /**
   * EXISTS over the index rows of resource `a`. Conditions keyed by a hash
   * (which encodes type and parameter) need only the resource id, so the
   * (hash, resource_id) and (phash, value) INCLUDE (resource_id) indexes serve
   * both ways: a scan of matching ids, or one probe per candidate. Other
   * conditions select the resource's rows of the parameter.
   */
  private exists(a: string, x: string, s: Stored, conds: Cond[], not = false): string {
    const keyed = conds.every((c) => c.keyed);
    const byId = keyed && (!this.scope.probing || conds.every((c) => !c.ranged));
    const key = byId ? `${x}.resource_id = ${a}.id` : `${x}.resource_type = ${a}.resource_type AND ${x}.resource_id = ${a}.id`;
    const where = `${key}${keyed ? '' : ` AND ${this.paramFilter(x, s)}`} AND (${conds.map((c) => c.sql).join(' OR ')})`;
    return `${not ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${this.scope.table} ${x} WHERE ${where})`;
  }

  private param(c: ParamCriterion, a: string, types: string[]): string {
    const x = this.alias('x');
    if (c.type === 'composite') {
      if (c.missing !== undefined) {
        const first = this.registry.byUrl(c.defs.values().next().value!.component![0].definition)!;
        return this.exists(a, x, this.stored(types, first.code), [{ sql: 'TRUE', keyed: false }], c.missing);
      }
      return `(${c.values.map((v) => this.composite(c, v, a, types)).join(' OR ')})`;
    }
    // derived rows: Reference.identifier (`:identifier`), Identifier.type with the value (`:of-type`)
    const derived = (c.type === 'reference' && c.modifier === 'identifier') || (c.type === 'token' && c.modifier === 'of-type');
    const s = this.stored(types, c.code, derived ? `:${c.modifier}` : '');
    if (c.missing !== undefined) return this.exists(a, x, s, [{ sql: 'TRUE', keyed: false }], c.missing);
    const conds = c.values.map((v) => (derived ? this.token(x, s, v.token!) : this.value(x, s, c.type, c.modifier, v)));
    return this.exists(a, x, s, conds, c.modifier === 'not' || c.modifier === 'not-in');
  }

  /** The condition one value puts on an index row `x` of the stored parameters `s`. */
  private value(x: string, s: Stored, type: string, modifier: string | undefined, v: ParamValue): Cond {
    if (v.all) {
      // bounds on the same value: one phash, every condition on the row
      if (type !== 'date') return this.numbers(x, s, type, v.all.map((w) => w.number!), true);
      const conds = v.all.map((w) => dateCondition(this.p, w.date!, `${x}.low`, `${x}.high`));
      if (!this.scope.probing) conds.push(...spanHint(this.p, v.all.map((w) => w.date!), x));
      return { sql: `(${this.phashIn(x, s, KIND.date)} AND ${conds.join(' AND ')})`, keyed: true, ranged: true };
    }
    switch (type) {
      case 'string':
        return this.string(x, s, v.string!, modifier);
      case 'uri':
        return this.uri(x, s, v.string!, modifier);
      case 'token':
        if (modifier === 'text') return this.tokenText(x, v.string!);
        if (modifier === 'in' || modifier === 'not-in') return this.valueSet(x, s, v.string!);
        if (modifier === 'above' || modifier === 'below') return this.subsumed(x, s, v);
        return this.token(x, s, v.token!);
      case 'date':
        return {
          sql: `(${[this.phashIn(x, s, KIND.date), dateCondition(this.p, v.date!, `${x}.low`, `${x}.high`), ...(this.scope.probing ? [] : spanHint(this.p, [v.date!], x))].join(' AND ')})`,
          keyed: true,
          ranged: true,
        };
      case 'number':
      case 'quantity':
        return this.numbers(x, s, type, [v.number!], false);
      case 'reference':
        return v.refs!.length ? { sql: this.hashIn(x, s, v.refs!), keyed: true } : { sql: 'FALSE', keyed: true };
    }
    return { sql: 'FALSE', keyed: true };
  }

  /**
   * Number and quantity conditions on one row. A UCUM quantity (system and
   * code given) is also compared in canonical units on the `:ucum` rows
   * (ucum.ts): 5.4 mg matches 5400 ug. The rows in the unit given still
   * answer too, for data indexed before canonical rows existed.
   */
  private numbers(x: string, s: Stored, type: string, values: NumberValue[], merged: boolean): Cond {
    // (parameters bound in the order they always were: a single value's phash first, a merged range's last)
    const on = (stored: Stored, ns: NumberValue[]) => {
      const ph = merged ? '' : this.phashIn(x, stored, KIND.number);
      const conds = ns.map((n) => numberCondition(this.p, n, x));
      return `(${ph || this.phashIn(x, stored, KIND.number)} AND ${conds.join(' AND ')})`;
    };
    const canonical = type === 'quantity' ? values.map(canonicalSearchValue) : [];
    const sql = canonical.length && canonical.every((c) => c !== undefined)
      ? `(${on(s, values)} OR ${on(s.map((k) => ({ ...k, param: k.param + UCUM_SUFFIX })), canonical as NumberValue[])})`
      : on(s, values);
    return { sql, keyed: true, ranged: true };
  }

  /** search.html#token: `code`, `system|code`, `|code`, `system|`. */
  private token(x: string, s: Stored, t: TokenValue): Cond {
    if (t.code === undefined) return { sql: `${x}.system = ${this.text(t.system!)}`, keyed: false };
    if (t.system === undefined) return { sql: this.hashIn(x, s, [t.code]), keyed: true };
    if (t.system === null) return { sql: `(${this.hashIn(x, s, [t.code])} AND ${x}.shash IS NULL)`, keyed: true };
    return { sql: `(${this.hashIn(x, s, [t.code])} AND ${this.hashIn(x, s, [t.code], 'shash', `${t.system}|`)})`, keyed: true };
  }

  /** `:text`: the words given start words of the display/text (string semantics). */
  private tokenText(x: string, value: string): Cond {
    const q = likeEscape(normalizeString(value));
    return { sql: `(${x}.text LIKE ${this.text(q + '%')} OR ${x}.text LIKE ${this.text('% ' + q + '%')})`, keyed: false };
  }

  /** `:in` / `:not-in`: codes of a known required ValueSet, or of a stored ValueSet (its `code` index). */
  private valueSet(x: string, s: Stored, url: string): Cond {
    const known = this.valueSets(url);
    if (known) return { sql: this.hashIn(x, s, known), keyed: true };
    const u = this.alias('vu');
    const k = this.alias('vc');
    return {
      sql: `${x}.value IN (SELECT ${k}.value FROM ${INDEX_TABLE} ${u} JOIN ${INDEX_TABLE} ${k} ON ${k}.resource_type = 'ValueSet' AND ${k}.resource_id = ${u}.resource_id AND ${k}.param = 'code'
      WHERE ${u}.hash = ${this.p.bind(searchHash(`ValueSet|url|${url}`), 'bigint')})`,
      keyed: false,
    };
  }

  /** search.html#string: prefix, `:exact`, `:contains`, case and accent insensitive. */
  private string(x: string, s: Stored, value: string, modifier?: string): Cond {
    const norm = normalizeString(value).slice(0, MAX_INDEXED_STRING);
    const ph = this.phashIn(x, s, KIND.string);
    if (modifier === 'exact') return { sql: `(${ph} AND ${x}.value = ${this.text(norm)} AND coalesce(${x}.exact, ${x}.value) = ${this.text(value)})`, keyed: true, ranged: true };
    if (modifier === 'contains') return { sql: `(${ph} AND ${x}.value LIKE ${this.text('%' + likeEscape(norm) + '%')})`, keyed: true, ranged: true };
    return { sql: `(${ph} AND ${x}.value >= ${this.text(norm)} AND ${x}.value < ${this.text(prefixUpperBound(norm))})`, keyed: true, ranged: true };
  }

  /**
   * search.html#uri: exact; by path (whole segments): `:below` the stored URL
   * is the value or under it, `:above` the stored URL is the value or one of
   * the paths above it.
   */
  private uri(x: string, s: Stored, value: string, modifier?: string): Cond {
    if (modifier === 'below') {
      const base = uriBelowBase(value);
      return { sql: `(${x}.value = ${this.text(base)} OR ${x}.value LIKE ${this.text(likeEscape(base) + '/%')})`, keyed: false };
    }
    return { sql: this.hashIn(x, s, modifier === 'above' ? uriAbove(value) : [value]), keyed: true };
  }

  /** Token `:above`/`:below`: a code of the value's system among the codes subsumption resolved (subsumption.ts). */
  private subsumed(x: string, s: Stored, v: ParamValue): Cond {
    if (!v.codes) throw new Error('token :above/:below value not resolved (Subsumption.resolve)');
    return { sql: `(${this.hashIn(x, s, v.codes)} AND ${this.hashIn(x, s, v.codes, 'shash', `${v.token!.system}|`)})`, keyed: true };
  }

  /** Composite rows: the row components under the param name of the folded ones (composite.ts). */
  private composite(c: ParamCriterion, v: ParamValue, a: string, types: string[]): string {
    const { defs, layout } = compositeOf(this.registry, c.defs.values().next().value!)!;
    const values = v.composite!;
    const folded = layout.folded.map((i) => values[i].refs ?? (values[i].token ? (values[i].token!.code === undefined ? [] : [values[i].token!.code!]) : [values[i].string!]));
    if (folded.some((f) => f.length === 0)) return 'FALSE';
    // (a union composite such as combo-code-value-quantity reads the rows of the composites it unites)
    const alts = foldedKeys(folded).map((key) => this.compositeTuple(a, layout.rows.map((i) => ({ s: this.stored(types, c.code, compositeSuffix(key, layout, i)), type: defs[i].type, value: values[i] }))));
    let sql = alts.length === 1 ? alts[0] : `(${alts.join(' OR ')})`;
    for (const i of layout.folded) {
      const token = values[i].token;
      if (token?.system === undefined) continue;
      // the folded key is the code; the system of a token component is checked on its own parameter
      const x = this.alias('cs');
      const s = this.stored(types, defs[i].code);
      sql += ` AND ${this.exists(a, x, s, [this.token(x, s, token)])}`;
    }
    return sql;
  }

  /** The row components' conditions, all on one tuple (with several rows: rows of the same `text` ordinal). */
  private compositeTuple(a: string, rows: { s: Stored; type: string; value: ParamValue }[]): string {
    const xs = rows.map(() => this.alias('cp'));
    const conds = rows.map((r, n) => this.value(xs[n], r.s, r.type, undefined, r.value));
    if (rows.length === 1) return this.exists(a, xs[0], rows[0].s, conds);
    const [x0] = xs;
    const same = xs.slice(1).map((x, n) =>
      `EXISTS (SELECT 1 FROM ${this.scope.table} ${x} WHERE ${x}.resource_type = ${x0}.resource_type AND ${x}.resource_id = ${x0}.resource_id AND ${x}.text = ${x0}.text AND ${conds[n + 1].sql})`,
    );
    return `EXISTS (SELECT 1 FROM ${this.scope.table} ${x0} WHERE ${x0}.resource_type = ${a}.resource_type AND ${x0}.resource_id = ${a}.id AND ${conds[0].sql} AND ${same.join(' AND ')})`;
  }
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

/** What the criteria being rendered are rendered for (CriteriaSql.probes and inScope). */
interface RenderScope {
  /**
   * Rendering the criteria checked per id of an anchor: range conditions then
   * leave out the row kind, so the partial range indexes (which cannot seek
   * by id) are not offered; each check is a probe by (resource_type,
   * resource_id) or by (hash, resource_id). An underestimated anchor cannot
   * turn into a range scan per candidate.
   */
  probing: boolean;
  /**
   * The index table holding the values of the rows criteria are rendered
   * over: `search_index`, or `search_index_contained` when they are
   * contained resources (see contained.ts; their ids are
   * `ContainerType/containerId#containedId`).
   */
  table: string;
}

/**
 * A condition on index rows; `keyed` when a hash pins type and parameter (no
 * row filter needed), `ranged` when that is the (type, param) hash of a range
 * index (which cannot seek by id: probes go through the resource index).
 */
interface Cond {
  sql: string;
  keyed: boolean;
  ranged?: boolean;
}

/** (type, stored param) pairs a criterion reads. */
type Stored = { type: string; param: string; targetType?: string }[];

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (m) => '\\' + m);
}

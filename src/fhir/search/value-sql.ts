import { SqlParams } from '../storage/sql-params';
import { implicitMatches, withoutImplicitSystem } from './code-systems';
import { compositeOf, compositeSuffix, foldedKeys, tokenKey } from './composite';
import { INDEX_TABLE, KIND, RowKind } from './index-tables';
import { searchHash, words } from './normalize';
import { nearCondition } from './position';
import { dateCondition, numberCondition, spanHint } from './range-sql';
import type { NumberValue, ParamCriterion, ParamValue } from './search-query';
import type { SearchParameterRegistry } from './search-params';
import { likeEscape, stringCondition } from './string-sql';
import { canonicalSearchValue, UCUM_SUFFIX } from './ucum';
import { uriAbove, uriBelowBase } from './value-parsers';

/**
 * The conditions search values put on index rows, per parameter type and
 * modifier (search.html §2.1.1): the base of CriteriaSql, which combines
 * them into criteria. Every value is a bound parameter.
 */
export abstract class ValueSql {
  private n = 0;
  protected readonly scope: RenderScope = { probing: false, table: INDEX_TABLE, opaqueValues: false };

  constructor(
    readonly p: SqlParams,
    protected readonly registry: SearchParameterRegistry,
  ) {}

  protected alias(prefix: string): string {
    return `${prefix}${this.n++}`;
  }

  protected text(v: string): string {
    return this.p.bind(v, 'text');
  }

  /** A value bound as `(SELECT $n)` in an opaque scope, where the planner must not see it (RenderScope.opaqueValues). */
  private hidden(v: unknown, type: string): string {
    // (the cast keeps `ANY((SELECT …)::bigint[])` an array expression: `ANY((SELECT …))` would be ANY(subquery))
    return this.scope.opaqueValues ? `(SELECT ${this.p.bind(v, type)})::${type}` : this.p.bind(v, type);
  }

  protected probes<T>(fn: () => T): T {
    return this.scoped('probing', true, fn);
  }

  /** Renders `fn`'s criteria with value hashes and strings the planner does not see (see RenderScope.opaqueValues). */
  withOpaqueValues<T>(fn: () => T): T {
    return this.scoped('opaqueValues', true, fn);
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

  protected get contained(): boolean {
    return this.scope.table !== INDEX_TABLE;
  }

  /** The index rows holding a parameter on each type (aliases resolved), with a suffix for derived params. */
  protected stored(types: string[], code: string, suffix = ''): Stored {
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
  protected paramFilter(x: string, s: Stored): string {
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
  protected hashIn(x: string, s: Stored, values: string[], column = 'hash', infix = ''): string {
    const hashes = [...new Set(s.flatMap((k) => values.map((v) => searchHash(`${k.type}|${k.param}|${infix}${v}`))))];
    return hashes.length === 1 ? `${x}.${column} = ${this.hidden(hashes[0], 'bigint')}` : `${x}.${column} = ANY(${this.hidden(hashes, 'bigint[]')})`;
  }

  /**
   * `x.phash` = the hash of `type|param` (rows of one kind: the partial index of that kind applies).
   * Date rows keep their kind when probing too: (resource_id, phash) WHERE kind = 'd' seeks by id.
   */
  private phashIn(x: string, s: Stored, kind: RowKind): string {
    const ph = this.phashEquals(x, s);
    return this.scope.probing && kind !== KIND.date ? ph : `${x}.kind = '${kind}' AND ${ph}`;
  }

  /** `x.phash` = the hash of `type|param` of one of the stored parameters, without the kind. */
  private phashEquals(x: string, s: Stored): string {
    const hashes = [...new Set(s.map((k) => searchHash(`${k.type}|${k.param}`)))];
    return hashes.length === 1 ? `${x}.phash = ${this.p.bind(hashes[0], 'bigint')}` : `${x}.phash = ANY(${this.p.bind(hashes, 'bigint[]')})`;
  }

  /** A date parameter's rows of a resource, by (kind, phash): the index-only per-resource date index applies. */
  dateRows(x: string, types: string[], code: string): string {
    return this.phashIn(x, this.stored(types, code), KIND.date);
  }

  /**
   * A plain date criterion as a condition on one of its parameter's rows `x`
   * (any of its values): what a sort key's rows aggregate with `bool_or` when
   * the criterion and the sort are on the same parameter (SearchSql).
   */
  dateRowCondition(c: ParamCriterion, x: string, types: string[]): string {
    const s = this.stored(types, c.code);
    return `(${this.probes(() => c.values.map((v) => this.value(x, s, 'date', undefined, v).sql)).join(' OR ')})`;
  }

  /** A plain date criterion's ranges on row `x`'s low/high alone (an owner date row: its phash is selected already). */
  dateRange(c: ParamCriterion, x: string): string {
    return `(${c.values.map((v) => `(${(v.all ?? [v]).map((w) => dateCondition(this.p, w.date!, `${x}.low`, `${x}.high`)).join(' AND ')})`).join(' OR ')})`;
  }

  /** `x.phash` = a date parameter's hash (aliases resolved), without the kind. */
  protected datePhash(x: string, types: string[], code: string): string {
    return this.phashEquals(x, this.stored(types, code));
  }

  /**
   * EXISTS over the index rows of resource `a`. Conditions keyed by a hash
   * (which encodes type and parameter) need only the resource id, so the
   * (hash, resource_id) and (phash, value) INCLUDE (resource_id) indexes serve
   * both ways: a scan of matching ids, or one probe per candidate. Other
   * conditions select the resource's rows of the parameter.
   */
  protected exists(a: string, x: string, s: Stored, conds: Cond[], not = false): string {
    const keyed = conds.every((c) => c.keyed);
    // a hash names its type, but ids are unique within a type only: over several types (`_type=A,B`) a row
    // of Observation/1 must not answer for Condition/1
    const oneType = s.every((k) => k.type === s[0]?.type);
    const key = this.rowOf(x, a, !(keyed && oneType && (!this.scope.probing || conds.every((c) => !c.ranged))));
    const where = `${key}${keyed ? '' : ` AND ${this.paramFilter(x, s)}`} AND (${conds.map((c) => c.sql).join(' OR ')})`;
    // a probe stays a probe: OFFSET 0 keeps PostgreSQL from flattening it into a (hash) semi-join that
    // reads every row of a common value (a generic plan cannot tell a common code from a rare one)
    return `${not ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${this.scope.table} ${x} WHERE ${where}${this.scope.probing ? ' OFFSET 0' : ''})`;
  }

  /**
   * Index row `x` belongs to resource `a`: by id alone when the row's type is known already (a hash names
   * its type; one type searched), else by type and id (ids are unique within a type only).
   */
  protected rowOf(x: string, a: string, byType: boolean): string {
    return `${byType ? `${x}.resource_type = ${a}.resource_type AND ` : ''}${x}.resource_id = ${a}.id`;
  }

  /** The condition one value puts on an index row `x` of the stored parameters `s`. */
  protected value(x: string, s: Stored, type: string, modifier: string | undefined, v: ParamValue): Cond {
    if (v.all) {
      // bounds on the same value: one phash, every condition on the row
      if (type !== 'date') return this.numbers(x, s, type, v.all.map((w) => w.number!), true);
      const conds = v.all.map((w) => dateCondition(this.p, w.date!, `${x}.low`, `${x}.high`));
      if (!this.scope.probing) conds.push(...spanHint(this.p, v.all.map((w) => w.date!), x));
      return { sql: `(${this.phashIn(x, s, KIND.date)} AND ${conds.join(' AND ')})`, keyed: true, ranged: true };
    }
    switch (type) {
      case 'string':
        return this.string(x, s, v.string!, modifier, v.match);
      case 'uri':
        return this.uri(x, s, v.string!, modifier);
      case 'token':
        if (modifier === 'text') return this.tokenText(x, v.string!);
        if (modifier === 'in' || modifier === 'not-in') return this.valueSet(x, s, v);
        if (modifier === 'above' || modifier === 'below') return this.subsumed(x, s, v);
        return this.token(x, s, v);
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
      case 'special':
        return { sql: `(${this.phashIn(x, s, KIND.position)} AND ${nearCondition(this.p, v.near!, x)})`, keyed: true, ranged: true };
    }
    return { sql: 'FALSE', keyed: true };
  }

  /**
   * Number and quantity conditions on one row. A UCUM quantity (system and
   * code given) is also compared in canonical units on the `:ucum` rows
   * (ucum.ts): 5.4 mg matches 5400 ug. The rows in the unit given answer
   * for the values written in it, exactly: a canonical row of a value written
   * in that unit (its `exact`) is not read, its 15 significant digits would
   * find 35.252127562876533 g/dL `ne35.25212756287653` g/dL.
   */
  private numbers(x: string, s: Stored, type: string, values: NumberValue[], merged: boolean): Cond {
    // (parameters bound in the order they always were: a single value's phash first, a merged range's last)
    const on = (stored: Stored, ns: NumberValue[], also = '') => {
      const ph = merged ? '' : this.phashIn(x, stored, KIND.number);
      const conds = ns.map((n) => numberCondition(this.p, n, x));
      return `(${ph || this.phashIn(x, stored, KIND.number)} AND ${conds.join(' AND ')}${also})`;
    };
    const canonical = type === 'quantity' ? values.map(canonicalSearchValue) : [];
    if (!canonical.length || canonical.some((c) => c === undefined)) return { sql: on(s, values), keyed: true, ranged: true };
    // (bounds in two units on one value, `gt5|…|mg&lt6000|…|ug`, read every canonical row)
    const units = [...new Set(values.map((v) => v.code!))];
    const plain = on(s, values);
    const other = units.length === 1 ? ` AND ${x}.exact IS DISTINCT FROM ${this.p.bind(units[0], 'text')}` : '';
    const sql = `(${plain} OR ${on(s.map((k) => ({ ...k, param: k.param + UCUM_SUFFIX })), canonical as NumberValue[], other)})`;
    return { sql, keyed: true, ranged: true };
  }

  /**
   * search.html#token: `code`, `system|code`, `|code`, `system|`. A `code` element's system is implicit, its
   * binding's (code-systems.ts): `system|code` and `system|` match it when that is the system, `|code` does
   * not when its binding names one.
   */
  protected token(x: string, s: Stored, v: ParamValue): Cond {
    const t = v.token!;
    if (t.code === undefined) return this.orImplicit(x, s, v, t.system!, undefined, { sql: `${x}.system = ${this.text(t.system!)}`, keyed: false });
    if (t.system === undefined) return { sql: this.hashIn(x, s, [t.code]), keyed: true };
    if (t.system === null) {
      const plain = withoutImplicitSystem(s, v);
      return plain.length ? { sql: `(${this.hashIn(x, plain, [t.code])} AND ${x}.shash IS NULL)`, keyed: true } : { sql: 'FALSE', keyed: true };
    }
    return this.orImplicit(x, s, v, t.system, [t.code], { sql: `(${this.hashIn(x, s, [t.code])} AND ${this.hashIn(x, s, [t.code], 'shash', `${t.system}|`)})`, keyed: true });
  }

  /** `cond` or a row of a `code` element holding one of `codes` (undefined: any) under its implicit system `system`. */
  private orImplicit(x: string, s: Stored, v: ParamValue, system: string, codes: string[] | undefined, cond: Cond): Cond {
    const alts = implicitMatches(s, v, system, codes).map((m): Cond =>
      m.codes
        ? { sql: `(${this.hashIn(x, m.stored, m.codes)} AND ${x}.shash IS NULL)`, keyed: true }
        : { sql: `(${x}.shash IS NULL AND ${x}.value IS NOT NULL AND ${this.paramFilter(x, m.stored)})`, keyed: false },
    );
    if (!alts.length) return cond;
    return { sql: `(${[cond, ...alts].map((c) => c.sql).join(' OR ')})`, keyed: [cond, ...alts].every((c) => c.keyed) };
  }

  /**
   * `:text` (search.html#token: "tested against the text/display associated with the code"): the words
   * given, in order, at a word start of the normalized display/text, the last one as a prefix; words
   * split at anything not a letter or digit (`total` finds "Hemoglobin.total"), as words() splits the value.
   */
  private tokenText(x: string, value: string): Cond {
    const w = words(value); // letters and digits only: nothing to escape in the pattern
    if (!w.length) return { sql: 'FALSE', keyed: false };
    return { sql: `${x}.text ~ ${this.text(`(^|[^[:alnum:]])${w.join('[^[:alnum:]]+')}`)}`, keyed: false };
  }

  /**
   * `:in` / `:not-in`: a Coding whose system and code are a member of the ValueSet (resolved by value-sets.ts);
   * a `code` element, indexed without a system (search.html#token: it is implicit, the binding's), by its code.
   */
  private valueSet(x: string, s: Stored, v: ParamValue): Cond {
    if (!v.members || !v.codes) throw new Error('token :in/:not-in value not resolved (Subsumption.resolve)');
    if (!v.members.length) return { sql: 'FALSE', keyed: true };
    const implicit = s.some((k) => this.registry.holdsCodes(k.type, k.param)) ? ` OR ${x}.shash IS NULL` : '';
    return { sql: `(${this.hashIn(x, s, v.codes)} AND (${this.hashIn(x, s, v.members, 'shash')}${implicit}))`, keyed: true };
  }

  /** search.html#string (string-sql.ts). */
  private string(x: string, s: Stored, value: string, modifier?: string, match?: ParamValue['match']): Cond {
    const scope = { ph: this.phashIn(x, s, KIND.string), text: (v: string) => this.hidden(v, 'text'), table: this.scope.table, contained: this.contained };
    return { sql: stringCondition(x, scope, value, modifier, match), keyed: true, ranged: true };
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
    const system = v.token!.system!;
    return this.orImplicit(x, s, v, system, v.codes, { sql: `(${this.hashIn(x, s, v.codes)} AND ${this.hashIn(x, s, v.codes, 'shash', `${system}|`)})`, keyed: true });
  }

  /** Composite rows: the row components under the param name of the folded ones (composite.ts). */
  protected composite(c: ParamCriterion, v: ParamValue, a: string, types: string[]): string {
    const { defs, layout } = compositeOf(this.registry, c.defs.values().next().value!)!;
    const values = v.composite!;
    // a token's key holds its system too (`system|code`, `|code`, `system|`): checked on the tuple's own element
    const folded = layout.folded.map((i) => values[i].refs ?? [tokenKey(values[i].token, values[i].string)]);
    if (folded.some((f) => f.length === 0)) return 'FALSE';
    // (a union composite such as combo-code-value-quantity reads the rows of the composites it unites)
    const alts = foldedKeys(folded).map((key) => this.compositeTuple(a, layout.rows.map((i) => ({ s: this.stored(types, c.code, compositeSuffix(key, layout, i)), type: defs[i].type, value: values[i] }))));
    return alts.length === 1 ? alts[0] : `(${alts.join(' OR ')})`;
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

/** What the criteria being rendered are rendered for (probes and inScope). */
interface RenderScope {
  /**
   * Rendering the criteria checked per id of an anchor: range conditions then
   * leave out the row kind, so the partial range indexes (which cannot seek
   * by id) are not offered; each check is a probe by (resource_type,
   * resource_id), by (hash, resource_id), or for dates by (resource_id, phash)
   * in the date rows' own index. An underestimated anchor cannot turn into a
   * range scan per candidate.
   */
  probing: boolean;
  /**
   * The index table holding the values of the rows criteria are rendered
   * over: `search_index`, or `search_index_contained` when they are
   * contained resources (see contained.ts; their ids are
   * `ContainerType/containerId#containedId`).
   */
  table: string;
  /**
   * Value hashes and string values bound as `(SELECT $n)`, a value the planner does not see: its
   * estimates are then the same for every value, so a prepared statement's generic plan costs what
   * each custom plan does and PostgreSQL keeps it instead of planning every execution anew (it
   * compares the two costs, and the row estimate of a known rare hash, or of a narrow string prefix
   * range, made the custom plan look cheaper: a name search was planned at every execution, ~150 µs
   * of its ~300 µs of database time). Only for statements whose plan fits all values
   * (SearchSql.planFitsAllValues).
   */
  opaqueValues: boolean;
}

/**
 * A condition on index rows; `keyed` when a hash pins type and parameter (no
 * row filter needed), `ranged` when that is the (type, param) hash of a range
 * index (which cannot seek by id: probes go through the resource index).
 */
export interface Cond {
  sql: string;
  keyed: boolean;
  ranged?: boolean;
}

/** (type, stored param) pairs a criterion reads. */
export type Stored = { type: string; param: string; targetType?: string }[];


import { logger } from '../../logger';
import { SqlParams } from '../storage/sql-params';
import { REFERENCE_TABLE, TABLE_OF, TEXT_TABLE, TOKEN_TABLE } from './index-tables';
import { normalizeString, prefixUpperBound, searchHash, MAX_INDEXED_STRING } from './normalize';
import type { SearchParser } from './search-parser';
import type { Criterion, DateValue, NumberValue, ParamCriterion, ParamValue, TokenValue } from './search-query';
import { kindOf, SearchParameterRegistry } from './search-params';
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
    return criteria.length ? criteria.map((c) => this.render(c, a, types)).join(' AND ') : 'TRUE';
  }

  render(c: Criterion, a: string, types: string[]): string {
    switch (c.kind) {
      case 'const':
        return c.value ? 'TRUE' : 'FALSE';
      case 'any':
        return `(${c.alternatives.map((alt) => `(${this.all(alt, a, types)})`).join(' OR ')})`;
      case 'id': {
        const ids = this.p.bind(c.ids, 'text[]');
        return c.not ? `${a}.id <> ALL(${ids})` : `${a}.id = ANY(${ids})`;
      }
      case 'lastUpdated':
        return c.dates!.map((d) => dateCondition(this.p, d, `${a}.last_updated`, `${a}.last_updated`)).join(' AND ');
      case 'text': {
        const x = this.alias('ft');
        const ors = c.queries.map((q) => `${x}.${c.column} @@ ${this.p.bind(q, 'tsquery')}`).join(' OR ');
        return `EXISTS (SELECT 1 FROM ${TEXT_TABLE} ${x} WHERE ${x}.resource_type = ${a}.resource_type AND ${x}.resource_id = ${a}.id AND (${ors}))`;
      }
      case 'list': {
        const x = this.alias('li');
        return `EXISTS (SELECT 1 FROM ${REFERENCE_TABLE} ${x} WHERE ${x}.resource_type = 'List' AND ${x}.resource_id = ANY(${this.p.bind(c.listIds, 'text[]')}) AND ${x}.param = 'item' AND ${x}.target_type = ${a}.resource_type AND ${x}.target_id = ${a}.id)`;
      }
      case 'chain': {
        const x = this.alias('ch');
        const t = this.alias('t');
        const hashes = types.map((bt) => `search_hash(${this.text(`${bt}|${c.code}|`)} || ${t}.resource_type || '/' || ${t}.id)`);
        return `EXISTS (SELECT 1 FROM ${REFERENCE_TABLE} ${x} JOIN resource ${t} ON ${t}.resource_type = ${x}.target_type AND ${t}.id = ${x}.target_id
          WHERE ${x}.resource_type = ${a}.resource_type AND ${x}.resource_id = ${a}.id AND ${x}.param = ${this.text(c.code)}
            AND ${x}.target_type = ANY(${this.p.bind(c.targets, 'text[]')}) AND ${x}.hash = ${hashes.length === 1 ? hashes[0] : `ANY(ARRAY[${hashes.join(', ')}])`}
            AND NOT ${t}.deleted AND ${this.render(c.inner, t, c.targets)}${this.restrictionAnd(t, c.targets)})`;
      }
      case 'has': {
        const x = this.alias('hs');
        const s = this.alias('s');
        return `EXISTS (SELECT 1 FROM ${REFERENCE_TABLE} ${x} JOIN resource ${s} ON ${s}.resource_type = ${x}.resource_type AND ${s}.id = ${x}.resource_id
          WHERE ${x}.resource_type = ${this.text(c.sourceType)} AND ${x}.param = ${this.text(c.refCode)}
            AND ${x}.target_type = ${a}.resource_type AND ${x}.target_id = ${a}.id
            AND ${x}.hash = search_hash(${this.text(`${c.sourceType}|${c.refCode}|`)} || ${a}.resource_type || '/' || ${a}.id)
            AND NOT ${s}.deleted AND ${this.render(c.inner, s, [c.sourceType])}${this.restrictionAnd(s, [c.sourceType])})`;
      }
      case 'param':
        return this.param(c, a, types);
    }
  }

  // ---- restrictions ------------------------------------------------------------

  /** ` AND <restriction>` for rows of alias `a` of these types, or '' when unrestricted. */
  restrictionAnd(a: string, types: string[]): string {
    const sql = this.restrictionSql(a, types);
    return sql ? ` AND ${sql}` : '';
  }

  /** The auth restriction as SQL over `a`; undefined when it does not restrict these types. */
  restrictionSql(a: string, types: string[]): string | undefined {
    if (!this.restriction) return undefined;
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

  private param(c: ParamCriterion, a: string, types: string[]): string {
    const kind = c.type === 'composite' ? undefined : kindOf(c.type);
    const keyed = (table: string, x: string, cond: string, not = false) =>
      `${not ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${table} ${x} WHERE ${x}.resource_type = ${a}.resource_type AND ${x}.resource_id = ${a}.id AND ${cond})`;
    if (c.missing !== undefined) {
      const x = this.alias('m');
      if (c.type === 'composite') {
        return keyed(TOKEN_TABLE, x, `${x}.param = ${this.text(this.registry.byUrl(c.defs.values().next().value!.component![0].definition)!.code)}`, c.missing);
      }
      const table = c.modifier === 'identifier' ? TOKEN_TABLE : TABLE_OF[kind!];
      return keyed(table, x, `${x}.param = ${this.text(c.code)}`, c.missing);
    }
    if (c.type === 'composite') return `(${c.values.map((v) => this.composite(c, v, a, types, keyed)).join(' OR ')})`;
    const x = this.alias('x');
    if (c.type === 'reference' && c.modifier === 'identifier') {
      const param = `${c.code}:identifier`;
      return keyed(TOKEN_TABLE, x, `${x}.param = ${this.text(param)} AND (${c.values.map((v) => this.token(x, types, param, v.token!)).join(' OR ')})`);
    }
    if (c.type === 'token' && c.modifier === 'of-type') {
      const param = `${c.code}:of-type`;
      return keyed(TOKEN_TABLE, x, `${x}.param = ${this.text(param)} AND (${c.values.map((v) => this.token(x, types, param, v.token!)).join(' OR ')})`);
    }
    const ors = c.values.map((v) => this.value(x, types, c.code, c.type, c.modifier, v));
    const cond = `${x}.param = ${this.text(c.code)} AND (${ors.join(' OR ')})`;
    const not = c.modifier === 'not' || c.modifier === 'not-in';
    return keyed(TABLE_OF[kind!], x, cond, not);
  }

  /** The condition one value puts on an index row `x` of the parameter stored as `param`. */
  private value(x: string, types: string[], param: string, type: string, modifier: string | undefined, v: ParamValue): string {
    switch (type) {
      case 'string':
        return this.string(x, types, param, v.string!, modifier);
      case 'uri':
        return this.uri(x, types, param, v.string!, modifier);
      case 'token':
        if (modifier === 'text') return this.tokenText(x, v.string!);
        if (modifier === 'in' || modifier === 'not-in') return this.valueSet(x, v.string!);
        return this.token(x, types, param, v.token!);
      case 'date':
        return `${this.phash(x, types, param)} AND ${dateCondition(this.p, v.date!, `${x}.low`, `${x}.high`)}`;
      case 'number':
      case 'quantity':
        return `${this.phash(x, types, param)} AND ${numberCondition(this.p, v.number!, x)}`;
      case 'reference': {
        if (!v.refs!.length) return 'FALSE';
        const hashes = types.flatMap((t) => v.refs!.map((r) => searchHash(`${t}|${param}|${r}`)));
        return `${x}.hash = ANY(${this.p.bind(hashes, 'bigint[]')}) AND ${x}.ref = ANY(${this.p.bind(v.refs, 'text[]')})`;
      }
    }
    return 'FALSE';
  }

  private hash(x: string, types: string[], key: string): string {
    const hashes = types.map((t) => searchHash(`${t}|${key}`));
    return hashes.length === 1 ? `${x}.hash = ${this.p.bind(hashes[0], 'bigint')}` : `${x}.hash = ANY(${this.p.bind(hashes, 'bigint[]')})`;
  }

  private phash(x: string, types: string[], param: string): string {
    const hashes = types.map((t) => searchHash(`${t}|${param}`));
    return hashes.length === 1 ? `${x}.phash = ${this.p.bind(hashes[0], 'bigint')}` : `${x}.phash = ANY(${this.p.bind(hashes, 'bigint[]')})`;
  }

  /** search.html §2.1.1.5 token: `code`, `system|code`, `|code`, `system|`. */
  private token(x: string, types: string[], param: string, t: TokenValue): string {
    const system = t.system === undefined ? '' : t.system === null ? ` AND ${x}.system IS NULL` : ` AND ${x}.system = ${this.text(t.system)}`;
    if (t.code === undefined) return system.slice(5);
    return `(${this.hash(x, types, `${param}|${t.code}`)} AND ${x}.value = ${this.text(t.code)}${system})`;
  }

  /** `:text`: the words given start words of the display/text (string semantics). */
  private tokenText(x: string, value: string): string {
    const q = likeEscape(normalizeString(value));
    return `(${x}.text LIKE ${this.text(q + '%')} OR ${x}.text LIKE ${this.text('% ' + q + '%')})`;
  }

  /** `:in` / `:not-in`: codes of a known required ValueSet, or of a stored ValueSet (its `code` index). */
  private valueSet(x: string, url: string): string {
    const known = this.valueSets(url);
    if (known) return `${x}.value = ANY(${this.p.bind(known, 'text[]')})`;
    const u = this.alias('vu');
    const k = this.alias('vc');
    return `${x}.value IN (SELECT ${k}.value FROM ${TOKEN_TABLE} ${u} JOIN ${TOKEN_TABLE} ${k} ON ${k}.resource_type = 'ValueSet' AND ${k}.resource_id = ${u}.resource_id AND ${k}.param = 'code'
      WHERE ${u}.hash = ${this.p.bind(searchHash(`ValueSet|url|${url}`), 'bigint')} AND ${u}.param = 'url' AND ${u}.value = ${this.text(url)})`;
  }

  /** search.html §2.1.1.6 string: prefix, `:exact`, `:contains`, case and accent insensitive. */
  private string(x: string, types: string[], param: string, value: string, modifier?: string): string {
    const norm = normalizeString(value).slice(0, MAX_INDEXED_STRING);
    const ph = this.phash(x, types, param);
    if (modifier === 'exact') return `(${ph} AND ${x}.value = ${this.text(norm)} AND coalesce(${x}.exact, ${x}.value) = ${this.text(value)})`;
    if (modifier === 'contains') return `(${ph} AND ${x}.value LIKE ${this.text('%' + likeEscape(norm) + '%')})`;
    return `(${ph} AND ${x}.value >= ${this.text(norm)} AND ${x}.value < ${this.text(prefixUpperBound(norm))})`;
  }

  /** search.html §2.1.1.8 uri: exact, `:above` (the value is a prefix of the query), `:below`. */
  private uri(x: string, types: string[], param: string, value: string, modifier?: string): string {
    if (modifier === 'below') return `(${x}.value LIKE ${this.text(likeEscape(value) + '%')})`;
    if (modifier === 'above') {
      const prefixes: string[] = [];
      for (let i = value.length; i > 0; i = value.lastIndexOf('/', i - 1)) prefixes.push(value.slice(0, i));
      const hashes = types.flatMap((t) => prefixes.map((u) => searchHash(`${t}|${param}|${u}`)));
      return `(${x}.hash = ANY(${this.p.bind(hashes, 'bigint[]')}) AND ${x}.value = ANY(${this.p.bind(prefixes, 'text[]')}))`;
    }
    return `(${this.hash(x, types, `${param}|${value}`)} AND ${x}.value = ${this.text(value)})`;
  }

  /** Composite rows live in the second component's table under `code$<first>` (see SearchIndexer). */
  private composite(
    c: ParamCriterion,
    v: ParamValue,
    a: string,
    types: string[],
    keyed: (table: string, x: string, cond: string) => string,
  ): string {
    const sp = c.defs.values().next().value!;
    const [d1, d2] = sp.component!.map((k) => this.registry.byUrl(k.definition)!);
    const first = v.composite!.first;
    const firsts = Array.isArray(first) ? first : first.code !== undefined ? [first.code] : [];
    if (!firsts.length) return 'FALSE';
    const parts = firsts.map((f) => {
      const x = this.alias('cp');
      const param = `${c.code}$${f}`;
      const cond = `${x}.param = ${this.text(param)} AND ${this.value(x, types, param, d2.type, undefined, v.composite!.second)}`;
      return keyed(TABLE_OF[kindOf(d2.type)!], x, cond);
    });
    let sql = parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
    if (!Array.isArray(first) && first.system !== undefined) {
      // the folded key is the code; the system of the first component is checked on its own parameter
      const x = this.alias('cs');
      sql += ` AND ${keyed(TOKEN_TABLE, x, `${x}.param = ${this.text(d1.code)} AND ${this.token(x, types, d1.code, first)}`)}`;
    }
    return sql;
  }
}

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (m) => '\\' + m);
}

/**
 * search.html §2.1.1.4 prefixes on a date range [low, high] against the
 * search value's range [sl, sh] (its precision): eq = contained in,
 * gt/lt = some part above/below, ge/le = gt/lt or eq, sa/eb = wholly after
 * or before, ap = overlaps the value widened by 10% of its distance to now.
 */
export function dateCondition(p: SqlParams, d: DateValue, low: string, high: string): string {
  const sl = p.bind(d.range.low.toISOString(), 'timestamptz');
  const sh = p.bind(d.range.high.toISOString(), 'timestamptz');
  switch (d.prefix) {
    case 'eq':
      return `(${low} >= ${sl} AND ${low} <= ${sh} AND ${high} <= ${sh})`;
    case 'ne':
      return `NOT (${low} >= ${sl} AND ${high} <= ${sh})`;
    case 'gt':
      return `${high} > ${sh}`;
    case 'lt':
      return `${low} < ${sl}`;
    case 'ge':
      return `(${high} >= ${sl} AND (${high} > ${sh} OR ${low} >= ${sl}))`;
    case 'le':
      return `(${low} <= ${sh} AND (${low} < ${sl} OR ${high} <= ${sh}))`;
    case 'sa':
      return `${low} > ${sh}`;
    case 'eb':
      return `${high} < ${sl}`;
    case 'ap': {
      const now = Date.now();
      const widen = Math.max(Math.abs(now - d.range.low.getTime()) * 0.1, 24 * 3600_000);
      const wl = p.bind(new Date(d.range.low.getTime() - widen).toISOString(), 'timestamptz');
      const wh = p.bind(new Date(d.range.high.getTime() + widen).toISOString(), 'timestamptz');
      return `(${low} <= ${wh} AND ${high} >= ${wl})`;
    }
  }
}

/** search.html §2.1.1.3/§2.1.1.6 number and quantity against stored [low, high] (NULL = open). */
function numberCondition(p: SqlParams, n: NumberValue, x: string): string {
  const num = (v: number) => p.bind(String(v), 'numeric');
  const L = `${x}.low`;
  const H = `${x}.high`;
  let cond: string;
  switch (n.prefix) {
    case 'eq':
      cond = `(${L} >= ${num(n.low)} AND ${L} < ${num(n.high)} AND ${H} < ${num(n.high)})`;
      break;
    case 'ne':
      cond = `NOT coalesce(${L} >= ${num(n.low)} AND ${H} < ${num(n.high)}, false)`;
      break;
    case 'gt':
      cond = `(${H} IS NULL OR ${H} > ${num(n.value)})`;
      break;
    case 'lt':
      cond = `(${L} IS NULL OR ${L} < ${num(n.value)})`;
      break;
    case 'ge':
      cond = `(${H} IS NULL OR ${H} >= ${num(n.value)})`;
      break;
    case 'le':
      cond = `(${L} IS NULL OR ${L} <= ${num(n.value)})`;
      break;
    case 'sa':
      cond = `${L} > ${num(n.value)}`;
      break;
    case 'eb':
      cond = `${H} < ${num(n.value)}`;
      break;
    case 'ap': {
      const d = Math.abs(n.value) * 0.1;
      cond = `((${L} IS NULL OR ${L} <= ${num(n.value + d)}) AND (${H} IS NULL OR ${H} >= ${num(n.value - d)}))`;
      break;
    }
  }
  if (n.system !== undefined) cond += ` AND ${x}.system = ${p.bind(n.system, 'text')}`;
  if (n.code !== undefined) cond += ` AND ${x}.code = ${p.bind(n.code, 'text')}`;
  return cond;
}


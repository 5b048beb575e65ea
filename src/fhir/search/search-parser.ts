import type { OperationOutcomeIssue } from 'fhir/r4';
import { functionalList, FUNCTIONAL_LIST_NAMES, searchedPatients } from './functional-lists';
import { badRequest, issue } from '../errors';
import { COMPARTMENT_PARAM } from './index-tables';
import { READ_ONLY_TYPES } from '../rest/allowed-methods';
import { parseResultParam, RESULT_PARAMS } from './result-params';
import type { Criterion, ParamCriterion, ParamValue, SearchQuery } from './search-query';
import { assertSearchable, kindOf, SearchParameterInfo, SearchParameterRegistry, UNSUPPORTED_PARAMS } from './search-params';
import { assertEscapes, orValues, parseDate, parseNumber, parseQuantity, parseReference, parseToken, splitEscaped, unescape } from './value-parsers';
import { compositeOf } from './composite';
import { ExpressionCompiler } from './expression';
import { words } from './normalize';
import { parseNear } from './position';
import { filterCriterion, parseFilter, pathType } from './filter';

export interface ParseOptions {
  /** `Prefer: handling=lenient`: unknown parameters are reported, not refused */
  lenient?: boolean;
  /** internal criteria (auth restrictions) may use `_compartment` */
  internal?: boolean;
  /** only criteria (findMatches, restrictions): result parameters are refused */
  criteriaOnly?: boolean;
  /** a search of one type (`[type]?…`, a compartment): `_type`, a system-level parameter, is not one of its parameters */
  typeLevel?: boolean;
  /** whose functional lists `_list=$current-…` means (a compartment's Patient); default: the Patients the search names */
  listPatients?: string[];
}

/** Modifiers each parameter type supports (search.html §2.1.1.5 and the type sections). */
const MODIFIERS: Record<string, string[]> = {
  string: ['exact', 'contains', 'missing'],
  token: ['text', 'not', 'in', 'not-in', 'of-type', 'above', 'below', 'missing'],
  uri: ['above', 'below', 'missing'],
  reference: ['identifier', 'missing'],
  date: ['missing'],
  number: ['missing'],
  quantity: ['missing'],
  composite: ['missing'],
  special: ['missing'],
};

/** Thrown for a parameter the server does not know or support (400, or ignored when lenient). */
class Unsupported extends Error {}

/**
 * Turns query parameters into a SearchQuery checked against the search
 * parameters of the types searched: unknown parameters and modifiers are
 * refused (400) or, under `Prefer: handling=lenient`, ignored and reported.
 * Invalid values are always 400.
 */
export class SearchParser {
  private readonly compiler: ExpressionCompiler;
  private readonly single = new Map<string, boolean>();

  constructor(
    private readonly registry: SearchParameterRegistry,
    private readonly baseUrl: string,
  ) {
    this.compiler = new ExpressionCompiler(registry.definitions);
  }

  parse(types: string[], allTypes: boolean, params: [string, string][], opts: ParseOptions = {}): SearchQuery {
    const query: SearchQuery = {
      types,
      allTypes,
      criteria: [],
      include: [],
      revinclude: [],
      sort: [],
      count: 20,
      total: undefined,
      contained: 'false',
      containedType: 'container',
      applied: [],
      issues: [],
    };
    if (params.some(([k, v]) => k === '_list' && v.includes('$'))) opts = { ...opts, listPatients: opts.listPatients ?? searchedPatients(params, this.baseUrl) };
    for (const [name, value] of params) {
      try {
        if (RESULT_PARAMS.has(name.split(':')[0])) {
          if (opts.typeLevel && name === '_type') throw new Unsupported('_type applies to system-level search only');
          if (opts.criteriaOnly) {
            if (name === '_format' || name === '_pretty') continue;
            throw new Unsupported(`${name} is not allowed here`);
          }
          parseResultParam(this.registry, query, name, value);
        } else {
          if (value === '' && !name.endsWith(':missing')) continue; // an empty value is no criterion
          // no stored text contains NUL (PostgreSQL text cannot): such a value matches nothing
          const c = value.includes('\u0000') ? ({ kind: 'const', value: false } as const) : this.criterion(types, name, value, opts);
          // once the parameter is known (an unknown one is ignored when lenient, whatever its value); a _filter has its own syntax
          if (name !== '_filter') assertEscapes(name, value);
          // an AND-list (a `_filter` of `and`s) joins the query's criteria, where one of them can anchor the search
          if (c.kind === 'any' && c.alternatives.length === 1) query.criteria.push(...c.alternatives[0]);
          else query.criteria.push(c);
        }
        // the self link shows what was applied (search.html#selflink): a capped `_count` as the cap
        if (name === '_count') query.applied.push([name, String(query.count)]);
        else if (name !== '_cursor') query.applied.push([name, value]);
      } catch (err) {
        if (!(err instanceof Unsupported)) throw err;
        if (!opts.lenient) throw badRequest(err.message);
        query.issues.push(issue('not-supported', `ignored: ${err.message}`, undefined, 'warning') as OperationOutcomeIssue);
      }
    }
    query.criteria = this.mergeRanges(query.criteria, types);
    return query;
  }

  /**
   * `date=ge2021&date=lt2022` on a parameter holding one value per resource
   * (Encounter.period, Observation.effective, Patient.birthDate) is one range
   * on that value: both bounds are checked on the same index row, so one
   * index range answers it. (On a repeating element each bound may be met by
   * a different value, so those stay separate criteria.)
   */
  private mergeRanges(criteria: Criterion[], types: string[]): Criterion[] {
    const out: Criterion[] = [];
    const merged = new Map<string, ParamCriterion>();
    for (const c of criteria) {
      const rangeable =
        c.kind === 'param' && ['date', 'number', 'quantity'].includes(c.type) && c.modifier === undefined && c.missing === undefined && c.values.length === 1 &&
        [...c.defs.entries()].every(([t, sp]) => this.singleValued(t, sp));
      if (!rangeable) {
        out.push(c);
        continue;
      }
      const prev = merged.get(c.code);
      if (!prev) {
        const copy: ParamCriterion = { ...c, values: [{ raw: c.values[0].raw, all: [c.values[0]] }] };
        merged.set(c.code, copy);
        out.push(copy);
      } else prev.values[0].all!.push(c.values[0]);
    }
    return out;
  }

  private singleValued(type: string, sp: SearchParameterInfo): boolean {
    const key = `${type}|${sp.expression}`;
    let v = this.single.get(key);
    if (v === undefined) this.single.set(key, (v = !!sp.expression && this.compiler.isSingleValued(type, sp.expression)));
    return v;
  }

  /** Criteria only, for restrictions and conditional matching (strict). */
  criteria(types: string[], params: [string, string][], internal = false): Criterion[] {
    return this.parse(types, false, params, { criteriaOnly: true, internal }).criteria;
  }

  /**
   * `_list` (search.html#list): the items of the Lists named by id, or of a functional list
   * (`$current-allergies`, functional-lists.ts); OR over the values.
   */
  private list(types: string[], values: string[], opts: ParseOptions): Criterion {
    const alternatives: Criterion[][] = [];
    const ids = values.filter((v) => !v.startsWith('$')).map(listId);
    if (ids.length) alternatives.push([{ kind: 'list', listIds: ids }]);
    for (const name of values.filter((v) => v.startsWith('$'))) {
      const f = functionalList(name, opts.listPatients ?? []);
      if (!f) throw new Unsupported(`_list: unknown functional list "${name}" (supported: ${FUNCTIONAL_LIST_NAMES.join(', ')})`);
      const lists: Criterion = { kind: 'any', alternatives: [this.criteria(['List'], f.listPairs, true)] };
      const alt: Criterion[] = [{ kind: 'has', sourceType: 'List', refCode: 'item', inner: lists }];
      if (f.items) {
        if (types.length !== 1 || types[0] !== f.items.type) throw new Unsupported(`_list=${name} applies to ${f.items.type} searches`);
        alt.push(...this.criteria(types, f.items.pairs, true));
      }
      alternatives.push(alt);
    }
    return alternatives.length === 1 && alternatives[0].length === 1 ? alternatives[0][0] : { kind: 'any', alternatives };
  }

  private criterion(types: string[], name: string, value: string, opts: ParseOptions): Criterion {
    if (name.startsWith('_has:')) return this.has(types, name, value, opts);
    const dot = name.indexOf('.');
    if (dot > 0) return this.chain(types, name.slice(0, dot), name.slice(dot + 1), value, opts);
    const [code, modifier, ...more] = name.split(':');
    if (more.length) throw new Unsupported(`parameter "${name}" has more than one modifier`);
    // search.html#modifiers: `:missing` applies to every parameter; every resource has an id and a lastUpdated
    if ((code === '_id' || code === '_lastUpdated') && modifier === 'missing') {
      if (value !== 'true' && value !== 'false') throw badRequest(`${code}:missing must be true or false`);
      return { kind: 'const', value: value === 'false' };
    }
    switch (code) {
      case '_id':
        if (modifier && modifier !== 'not') throw new Unsupported(`modifier :${modifier} on _id`);
        return { kind: 'id', ids: orValues(value).map(unescape), not: modifier === 'not' };
      case '_lastUpdated':
        if (modifier) throw new Unsupported(`modifier :${modifier} on _lastUpdated`);
        return { kind: 'lastUpdated', dates: orValues(value).map((v) => parseDate(unescape(v), code)) };
      case '_text':
      case '_content': {
        if (modifier) throw new Unsupported(`modifier :${modifier} on ${code}`);
        const queries = orValues(value).map((v) => tsQuery(unescape(v))).filter((q): q is string => !!q);
        return queries.length ? { kind: 'text', column: code === '_text' ? 'narrative' : 'content', queries } : { kind: 'const', value: false };
      }
      case '_list':
        if (modifier) throw new Unsupported(`modifier :${modifier} on _list`);
        return this.list(types, orValues(value).map(unescape), opts);
      case COMPARTMENT_PARAM: {
        if (!opts.internal) throw new Unsupported(`unknown parameter "${code}"`);
        const refs = orValues(value).map((v) => /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(unescape(v)));
        const compartment = refs[0]?.[1] ?? '';
        if (refs.some((m) => m?.[1] !== compartment) || !this.registry.compartmentMembers(compartment).length) {
          throw badRequest(`${code} must be <compartment type>/<id>, one compartment type`);
        }
        return { kind: 'compartment', compartment, ids: refs.map((m) => m![2]) };
      }
    }
    if (code === '_filter') {
      if (modifier) throw new Unsupported(`modifier :${modifier} on _filter`);
      const type = (path: string) => pathType(this.registry, types, path);
      return filterCriterion(parseFilter(value), type, (n, v) => this.criterion(types, n, v, opts));
    }
    if (UNSUPPORTED_PARAMS.has(code)) throw new Unsupported(`parameter "${code}" is not supported`);
    return this.paramCriterion(this.defsFor(types, code), code, modifier, value);
  }

  /** The parameter's definition on each type; it must exist on all of them with one type. */
  private defsFor(types: string[], code: string): Map<string, SearchParameterInfo> {
    const defs = new Map<string, SearchParameterInfo>();
    for (const t of types) {
      const sp = this.registry.param(t, code);
      if (!sp) throw new Unsupported(`unknown parameter "${code}"${types.length === 1 ? ` for ${t}` : ''}`);
      defs.set(t, sp);
    }
    const kinds = new Set([...defs.values()].map((d) => d.type));
    if (kinds.size > 1) throw new Unsupported(`parameter "${code}" has different types across the types searched`);
    return defs;
  }

  private paramCriterion(defs: Map<string, SearchParameterInfo>, code: string, modifier: string | undefined, value: string): ParamCriterion {
    const first = defs.values().next().value as SearchParameterInfo;
    const type = first.type;
    if ((type === 'special' && !kindOf(type, first.url)) || (type === 'composite' && !compositeOf(this.registry, first))) {
      throw new Unsupported(`parameter "${code}" is not supported`);
    }
    const c: ParamCriterion = { kind: 'param', code, type, defs, values: [] };
    if (modifier !== undefined) {
      const targets = type === 'reference' ? new Set([...defs.values()].flatMap((d) => this.registry.targetsOf(d))) : undefined;
      if (!(MODIFIERS[type] ?? []).includes(modifier) && !targets?.has(modifier)) {
        throw new Unsupported(`modifier :${modifier} is not supported on ${type} parameter "${code}"`);
      }
      c.modifier = modifier;
    }
    if (modifier === 'missing') {
      if (value !== 'true' && value !== 'false') throw badRequest(`${code}:missing must be true or false`);
      c.missing = value === 'true';
      return c;
    }
    c.values = orValues(value).map((raw) => this.value(c, first, raw));
    return c;
  }

  private value(c: ParamCriterion, sp: SearchParameterInfo, raw: string): ParamValue {
    const name = c.modifier ? `${c.code}:${c.modifier}` : c.code;
    const v: ParamValue = { raw };
    switch (c.type) {
      case 'string':
        v.string = unescape(raw);
        break;
      case 'uri':
        v.string = unescape(raw);
        // search.html#uri: "the :above and :below modifiers only apply to URLs, and not URNs"
        if ((c.modifier === 'above' || c.modifier === 'below') && !/^[a-z][a-z0-9+.-]*:\/\//i.test(v.string)) throw badRequest(`${name}: "${raw}" is not a URL (:${c.modifier} applies to URLs only)`);
        break;
      case 'token':
        if (c.modifier === 'text' || c.modifier === 'in' || c.modifier === 'not-in') v.string = unescape(raw);
        else if (c.modifier === 'of-type') {
          const parts = splitEscaped(raw, '|');
          // search.html#token :of-type: "All 3 parts must be present"
          if (parts.length !== 3 || parts.includes('')) throw badRequest(`${name}: "${raw}" must be system|code|value, none of them empty`);
          v.token = { system: unescape(parts[0]), code: `${unescape(parts[1])}|${unescape(parts[2])}` };
        } else v.token = parseToken(raw);
        if ((c.modifier === 'above' || c.modifier === 'below') && (!v.token?.system || v.token.code === undefined)) {
          throw badRequest(`${name}: "${raw}" must be system|code (subsumption is within a code system)`);
        }
        break;
      case 'date':
        v.date = parseDate(unescape(raw), name);
        break;
      case 'number':
        v.number = parseNumber(unescape(raw), name);
        break;
      case 'quantity':
        v.number = parseQuantity(raw, name);
        break;
      case 'reference': {
        if (c.modifier === 'identifier') {
          v.token = parseToken(raw);
          break;
        }
        const targets = [...new Set([...c.defs.values()].flatMap((d) => this.registry.targetsOf(d)))];
        v.refs = parseReference(raw, name, targets, c.modifier, this.baseUrl);
        break;
      }
      case 'composite':
        v.composite = this.composite(sp, raw, name);
        break;
      case 'special':
        v.near = parseNear(unescape(raw), name);
        break;
    }
    return v;
  }

  /** `a$b$c`: one value per component (search.html#composite), each parsed as its own parameter. */
  private composite(sp: SearchParameterInfo, raw: string, name: string): ParamValue[] {
    const parts = splitEscaped(raw, '$');
    const { defs, layout } = compositeOf(this.registry, sp)!;
    if (parts.length !== defs.length) throw badRequest(`${name}: "${raw}" must have ${defs.length} components separated by $`);
    const values = defs.map((d, i) => {
      if (d.type === 'reference') return { raw: parts[i], refs: parseReference(parts[i], name, this.registry.targetsOf(d), undefined, this.baseUrl) };
      return this.value({ kind: 'param', code: d.code, type: d.type, defs: new Map(), values: [] }, d, parts[i]);
    });
    // a folded token component is stored as `code` and `system|code` keys only (composite.ts tokenKeys)
    if (layout.folded.some((i) => values[i].token && values[i].token.code === undefined)) {
      throw new Unsupported(`${name}: a token component as "system|" (any code of the system) is not supported: give a code`);
    }
    return values;
  }

  /** `subject:Patient.name=peter` (search.html §2.1.1.7.4 chaining), any depth. */
  private chain(types: string[], head: string, rest: string, value: string, opts: ParseOptions): Criterion {
    const [code, typeModifier, ...more] = head.split(':');
    if (more.length) throw new Unsupported(`invalid chain "${head}"`);
    if (typeModifier) assertSearchable(typeModifier, `chain "${head}.${rest}"`);
    const defs = this.defsFor(types, code);
    const first = defs.values().next().value as SearchParameterInfo;
    if (first.type !== 'reference') throw new Unsupported(`"${code}" is not a reference parameter and cannot be chained`);
    const allTargets = new Set([...defs.values()].flatMap((d) => this.registry.targetsOf(d)));
    let targets = typeModifier ? [typeModifier] : [...allTargets];
    if (typeModifier && !allTargets.has(typeModifier)) throw new Unsupported(`"${code}" cannot refer to ${typeModifier}`);
    // without a type modifier: the target types that have the chained parameter
    const chainedCode = rest.split(/[.:]/)[0];
    if (!typeModifier && !chainedCode.startsWith('_has')) {
      targets = this.registry.chainTargets([...defs.values()], chainedCode);
      if (targets.length === 0) throw new Unsupported(`no target of "${code}" has a parameter "${chainedCode}"`);
      // a type served from its own store (AuditEvent) is no chain target: 400 when it is the only one
      const searchable = targets.filter((t) => !READ_ONLY_TYPES.has(t));
      if (!searchable.length) assertSearchable(targets[0], `chain "${head}.${rest}"`);
      targets = searchable;
      if (targets.length > 1) {
        const kinds = new Set(targets.map((t) => this.registry.param(t, chainedCode)?.type ?? 'special'));
        if (kinds.size > 1) throw new Unsupported(`"${code}.${chainedCode}" is ambiguous: add a type modifier (${code}:Type.${chainedCode})`);
      }
    }
    return { kind: 'chain', code, targets, inner: this.criterion(targets, rest, value, opts) };
  }

  /** `_has:Observation:patient:code=1234` (search.html §2.1.1.7.5 reverse chaining), nestable. */
  private has(types: string[], name: string, value: string, opts: ParseOptions): Criterion {
    const parts = name.split(':');
    if (parts.length < 4) throw badRequest(`"${name}" must be _has:Type:reference:parameter`);
    const [, sourceType, refCode] = parts;
    assertSearchable(sourceType, name);
    if (!this.registry.isResourceType(sourceType)) throw new Unsupported(`unknown resource type "${sourceType}" in ${name}`);
    const ref = this.registry.param(sourceType, refCode);
    if (!ref || ref.type !== 'reference') throw new Unsupported(`"${refCode}" is not a reference parameter of ${sourceType}`);
    const targets = new Set(this.registry.targetsOf(ref));
    if (!types.some((t) => targets.has(t))) throw new Unsupported(`${sourceType}.${refCode} does not refer to ${types.join(',')}`);
    return { kind: 'has', sourceType, refCode, inner: this.criterion([sourceType], parts.slice(3).join(':'), value, opts) };
  }
}


/** A tsquery of the words of a `_text`/`_content` value, all required, each as a prefix. */
function tsQuery(value: string): string | undefined {
  const w = words(value);
  return w.length ? w.map((x) => `'${x}':*`).join(' & ') : undefined;
}

/** A `_list` value (search.html#list): a List id, also written `List/[id]`. */
function listId(v: string): string {
  const m = /^List\/([A-Za-z0-9\-.]{1,64})$/.exec(v);
  if (m) return m[1];
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(v)) throw badRequest(`_list: "${v}" is not a List id`);
  return v;
}

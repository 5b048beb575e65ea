import { badRequest } from '../errors';
import type { Criterion, ParamCriterion } from './search-query';
import type { SearchParameterInfo, SearchParameterRegistry } from './search-params';

/**
 * `_filter` (search_filter.html, R4 trial use): a boolean expression of tests
 * `path op value` over the same search parameters, e.g.
 * `name co "pet" and (birthdate ge 2014-10-10 or not (gender eq male))`.
 * Each test becomes the criterion of the standard syntax with the same meaning
 * (`co` on a string is `:contains`, `ss` on a token `:below`, `pr` is `:missing`
 * negated…), so a filter is searched by the same SQL as the parameters it names;
 * `and`/`or`/`not` combine those criteria. Logical operators apply left to
 * right with no precedence (the spec's rule): `a or b and c` is `(a or b) and c`.
 */
export type FilterNode =
  | { kind: 'and' | 'or'; items: FilterNode[] }
  | { kind: 'not'; inner: FilterNode }
  | { kind: 'test'; path: string; op: string; value: string };

const OPS = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'lt', 'ge', 'le', 'ap', 'sa', 'eb', 'pr', 'po', 'ss', 'sb', 'in', 'ni', 're']);
const NAME = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;
/** Deepest nesting of parentheses accepted (a recursion bound), and the most tests in one filter. */
const MAX_DEPTH = 32;
const MAX_TESTS = 100;

/** Parses a `_filter` expression; 400 with the position on a syntax error. */
export function parseFilter(text: string): FilterNode {
  let pos = 0;
  let tests = 0;
  const fail = (what: string): never => {
    throw badRequest(`_filter: ${what} at position ${pos + 1}`);
  };
  const space = () => {
    while (pos < text.length && /\s/.test(text[pos])) pos++;
  };
  const word = (stop: RegExp) => {
    space();
    const start = pos;
    while (pos < text.length && !/\s/.test(text[pos]) && !stop.test(text[pos])) pos++;
    return text.slice(start, pos);
  };
  const peekWord = () => {
    const at = pos;
    const w = word(/[()[\]]/);
    pos = at;
    return w;
  };

  const value = (): string => {
    space();
    if (text[pos] !== '"') {
      const v = word(/[)\]]/);
      return v || fail('a value expected');
    }
    // a JSON string
    const start = pos++;
    while (pos < text.length && text[pos] !== '"') pos += text[pos] === '\\' ? 2 : 1;
    if (pos >= text.length) fail('unterminated string');
    pos++;
    try {
      return JSON.parse(text.slice(start, pos)) as string;
    } catch {
      return fail('malformed string');
    }
  };

  const term = (depth: number): FilterNode => {
    if (depth > MAX_DEPTH) fail('too deeply nested');
    space();
    if (text[pos] === '(') {
      pos++;
      const inner = filter(depth + 1);
      space();
      if (text[pos] !== ')') fail('")" expected');
      pos++;
      return inner;
    }
    const first = peekWord();
    if (first === 'not') {
      word(/[()[\]]/);
      space();
      if (text[pos] !== '(') fail('"(" expected after not');
      return { kind: 'not', inner: term(depth + 1) };
    }
    const path = word(/[()[\]]/);
    if (text[pos] === '[') fail('a filter on a path (name[filter].name) is not supported');
    if (!NAME.test(path)) fail(`"${path}" is not a parameter name`);
    const op = word(/[()[\]]/);
    if (!OPS.has(op)) fail(`"${op}" is not a filter operator`);
    if (++tests > MAX_TESTS) fail(`more than ${MAX_TESTS} tests`);
    return { kind: 'test', path, op, value: value() };
  };

  const filter = (depth: number): FilterNode => {
    let node = term(depth);
    for (;;) {
      space();
      if (pos >= text.length || text[pos] === ')') return node;
      const op = word(/[()[\]]/);
      if (op !== 'and' && op !== 'or') return fail(`"and" or "or" expected, not "${op}"`);
      const next = term(depth);
      // left to right, no precedence: a run of one operator is one node
      node = node.kind === op ? { kind: op, items: [...node.items, next] } : { kind: op, items: [node, next] };
    }
  };

  const out = filter(0);
  space();
  if (pos < text.length) fail('unexpected ")"');
  return out;
}

/** A test in the standard syntax: the parameter name (with modifier) and its value; how to finish the criterion. */
interface StandardTest {
  name: string;
  value: string;
  /** negate the criterion (`ne` on a string or reference) */
  not?: boolean;
  /** string `eq` / `ew`: the whole normalized value, or its end (no standard modifier says either) */
  match?: 'equals' | 'suffix';
  /**
   * date `po`: the value's upper bound, for `_lastUpdated` (an instant overlaps the value when within both
   * bounds); a stored range is compared with the value's as a whole (range-sql.ts `po`): `ge` and `le`
   * together miss a range that starts inside the value and ends after it
   */
  alsoOnSameValue?: string;
}

/** search_filter.html#ops: "loinc", "snomed", "rxnorm" and "ucum" stand for their systems. */
const SYSTEM_ALIASES: Record<string, string> = {
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  ucum: 'http://unitsofmeasure.org',
};

/** Escapes what the standard syntax would read as a separator (`,` OR, `$` composite; `|` too where it is not one). */
const escaped = (v: string, pipe: boolean) => v.replace(pipe ? /[\\,$|]/g : /[\\,$]/g, '\\$&');

/**
 * The standard-syntax form of one test on a parameter of `type` (search_filter.html, the table of
 * operations per type); 400 for an operation the type has no meaning for.
 */
export function standardTest(type: string, path: string, op: string, value: string): StandardTest {
  const unsupported = (): never => {
    throw badRequest(`_filter: "${op}" is not supported on ${type} parameter "${path}"`);
  };
  if (op === 'pr') {
    if (value !== 'true' && value !== 'false') throw badRequest(`_filter: ${path} pr must be true or false`);
    return { name: `${path}:missing`, value: value === 'true' ? 'false' : 'true' };
  }
  switch (type) {
    case 'string':
    case 'text':
      if (op === 'co' && type === 'string') return { name: `${path}:contains`, value: escaped(value, true) };
      if (op === 'sw' || (type === 'text' && (op === 'co' || op === 'eq'))) return { name: path, value: escaped(value, true) };
      if (type === 'text') return unsupported();
      if (op === 'eq' || op === 'ne') return { name: path, value: escaped(value, true), match: 'equals', not: op === 'ne' };
      if (op === 'ew') return { name: path, value: escaped(value, true), match: 'suffix' };
      return unsupported();
    case 'token': {
      const bar = value.indexOf('|');
      const system = bar > 0 ? SYSTEM_ALIASES[value.slice(0, bar).toLowerCase()] : undefined;
      const v = escaped(system ? `${system}${value.slice(bar)}` : value, false);
      const modifier = { eq: '', ne: ':not', ss: ':below', sb: ':above', in: ':in', ni: ':not-in' }[op];
      if (modifier === undefined) return unsupported();
      return { name: path + modifier, value: v };
    }
    case 'uri': {
      const modifier = { eq: '', ne: '', ss: ':below', sb: ':above' }[op];
      if (modifier === undefined) return unsupported();
      return { name: path + modifier, value: escaped(value, true), not: op === 'ne' };
    }
    case 'reference':
      if (op !== 're' && op !== 'eq' && op !== 'ne') return unsupported();
      return { name: path, value: escaped(value, false), not: op === 'ne' };
    case 'date':
      if (op === 'po') return { name: path, value: `ge${value}`, alsoOnSameValue: `le${value}` };
    // falls through: the search prefixes
    case 'number':
    case 'quantity':
      if (!['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'ap', 'sa', 'eb'].includes(op)) return unsupported();
      return { name: path, value: `${op}${escaped(value, false)}` };
    default:
      return unsupported();
  }
}

/**
 * `code eq a or code eq b` is `code=a,b`: one criterion with both values, which the hash index
 * answers as one (an OR of criteria is checked resource by resource). Undefined unless every item is
 * a plain criterion on the same parameter with the same modifier.
 */
function sameParameter(items: Criterion[]): ParamCriterion | undefined {
  const [first] = items;
  if (first.kind !== 'param' || first.missing !== undefined) return undefined;
  const same = (c: Criterion): c is ParamCriterion =>
    c.kind === 'param' && c.code === first.code && c.type === first.type && c.modifier === first.modifier && c.missing === undefined;
  return items.every(same) ? { ...first, values: items.flatMap((c) => (c as ParamCriterion).values) } : undefined;
}

/** The parameter criterion a criterion ends in (through chains and reverse chains). */
function innermost(c: Criterion): ParamCriterion | undefined {
  if (c.kind === 'chain' || c.kind === 'has') return innermost(c.inner);
  return c.kind === 'param' ? c : undefined;
}

/** The type of the parameter a path ends in (`subject.name`: `name` on the types `subject` refers to). */
export function pathType(registry: SearchParameterRegistry, types: string[], path: string): string {
  const codes = path.split('.');
  let current = types;
  for (const [i, code] of codes.entries()) {
    const last = i === codes.length - 1;
    if (last && code === '_lastUpdated') return 'date';
    if (last && code === '_id') return 'token';
    if (last && (code === '_text' || code === '_content')) return 'text';
    const defs = current.map((t) => registry.param(t, code)).filter((d): d is SearchParameterInfo => d !== undefined);
    if (defs.length === 0) throw badRequest(`_filter: unknown parameter "${code}" for ${current.join(', ')}`);
    if (last) return defs[0].type;
    if (defs[0].type !== 'reference') throw badRequest(`_filter: "${code}" is not a reference parameter and cannot be chained`);
    current = registry.chainTargets(defs, codes[i + 1]);
  }
  return 'special';
}

/**
 * The criterion of a parsed filter: `criterion(name, value)` is the parser's for one parameter of
 * the standard syntax (so a test accepts exactly what the parameter would).
 */
export function filterCriterion(node: FilterNode, type: (path: string) => string, criterion: (name: string, value: string) => Criterion): Criterion {
  switch (node.kind) {
    case 'and':
      return { kind: 'any', alternatives: [node.items.map((n) => filterCriterion(n, type, criterion))] };
    case 'or': {
      const items = node.items.map((n) => filterCriterion(n, type, criterion));
      return sameParameter(items) ?? { kind: 'any', alternatives: items.map((c) => [c]) };
    }
    case 'not':
      return { kind: 'not', inner: filterCriterion(node.inner, type, criterion) };
    case 'test': {
      const t = standardTest(type(node.path), node.path, node.op, node.value);
      const c = criterion(t.name, t.value);
      const param = innermost(c);
      if (t.match && param) for (const v of param.values) v.match = t.match;
      if (t.alsoOnSameValue) {
        // po: the stored range overlaps the value's range; `_lastUpdated`, an instant, is within both bounds
        const date = param?.values[0].date;
        if (!param || !date) return { kind: 'any', alternatives: [[c, criterion(t.name, t.alsoOnSameValue)]] };
        param.values = [{ raw: node.value, date: { prefix: 'po', range: date.range } }];
      }
      return t.not ? { kind: 'not', inner: c } : c;
    }
  }
}

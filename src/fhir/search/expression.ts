import * as fhirpath from 'fhirpath';
import * as r4Model from 'fhirpath/fhir-context/r4';
import type { CompactDefinitions } from '../definitions/definitions';

/** A value an expression selected, with its FHIR type when known (direct accessors know it). */
export interface PathValue {
  value: any;
  type?: string;
}

/** Where a path is evaluated: a type, and a path inside it for backbone elements. */
export interface PathContext {
  type: string;
  prefix: string;
}

/** Compiled expression: the values it selects from a node of its context. */
export interface Extractor {
  (node: any): PathValue[];
  /** true when it runs as a direct accessor, false when FHIRPath evaluates it */
  direct: boolean;
  /** the context of the selected values (direct accessors over one element type only) */
  resultContext?: PathContext;
}

interface Step {
  /** JSON properties to read (several for a choice element), each with its type */
  keys: { key: string; type: string }[];
  filter?: (v: any) => boolean;
}

/** Splits `a | (b | c) | d` at top-level `|` (not inside parentheses or quotes). */
export function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') quote = !quote;
    if (quote) continue;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter(Boolean);
}

/** Splits a path at top-level dots: `a.where(b.c='x').d` → [a, where(b.c='x'), d]. */
export function splitPath(path: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === "'") quote = !quote;
    if (quote) continue;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '.' && depth === 0) {
      out.push(path.slice(start, i));
      start = i + 1;
    }
  }
  out.push(path.slice(start));
  return out;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** `Patient/1`, `http://x/fhir/Patient/1/_history/2` → `Patient` */
export function referenceType(reference: unknown): string | undefined {
  if (typeof reference !== 'string') return undefined;
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[^/]+)?$/.exec(reference);
  return m?.[1];
}

const BACKBONE = new Set(['BackboneElement', 'Element']);

/**
 * Compiles SearchParameter expressions: plain paths (`Observation.code`,
 * `(Observation.value as Quantity)`, `X.where(resolve() is Patient)`,
 * `X.where(system='email')`) become direct property accessors resolved
 * against the element definitions; anything else runs on the `fhirpath`
 * engine. Both give the same values (see expression.spec.ts).
 */
export class ExpressionCompiler {
  private readonly fallbackCache = new Map<string, Extractor>();

  constructor(private readonly defs: CompactDefinitions) {}

  /**
   * The union of the parts of `expression` that apply to `resourceType`
   * (official expressions list every base type: `Observation.code | Condition.code`).
   */
  compileFor(resourceType: string, expression: string): Extractor | undefined {
    const parts = splitUnion(expression).filter((p) => this.appliesTo(p, resourceType));
    if (parts.length === 0) return undefined;
    const extractors = parts.map((p) => this.compilePart(p, { type: resourceType, prefix: '' }, true));
    if (extractors.length === 1) return extractors[0];
    const fn = ((node: any) => extractors.flatMap((e) => e(node))) as Extractor;
    fn.direct = extractors.every((e) => e.direct);
    return fn;
  }

  /**
   * compileFor for a token parameter: a part ending in `.code` of a Coding (US Core `race`:
   * `…extension.value.code`; `gender-identity`: `…value.coding.code`) selects the Coding itself, so
   * its system is indexed with the code (search.html#token: `system|code` finds it). A `code` of
   * anything else (a Quantity's unit code, a backbone element's `code`) stays the bare code.
   */
  compileTokenFor(resourceType: string, expression: string): Extractor | undefined {
    const parts = splitUnion(expression).filter((p) => this.appliesTo(p, resourceType));
    if (!parts.some((p) => CODE_OF.test(p))) return this.compileFor(resourceType, expression);
    const ctx = { type: resourceType, prefix: '' };
    const extractors = parts.map((p) => {
      const own = this.compilePart(p, ctx, true);
      const parent = CODE_OF.exec(p)?.[1];
      // a `code` element known not to be a primitive (Observation.code, a UsageContext's Coding) is as it was
      if (!parent || (own.resultContext && own.resultContext.type !== 'code')) return own;
      return codingsOrCodes(this.compilePart(parent, ctx, true));
    });
    const fn = ((node: any) => extractors.flatMap((e) => e(node))) as Extractor;
    fn.direct = extractors.every((e) => e.direct);
    return fn;
  }

  /** The same union as compileFor, evaluated by FHIRPath only (the oracle of the direct accessors). */
  compileForFhirPath(resourceType: string, expression: string): Extractor | undefined {
    const parts = splitUnion(expression).filter((p) => this.appliesTo(p, resourceType));
    if (parts.length === 0) return undefined;
    const ctx = { type: resourceType, prefix: '' };
    const extractors = parts.map((p) => (/^[a-z]/.test(p) ? this.compileFhirPath(`${resourceType}.${p}`, ctx, true) : this.compileFhirPath(p, ctx, true)));
    const fn = ((node: any) => extractors.flatMap((e) => e(node))) as Extractor;
    fn.direct = false;
    return fn;
  }

  /**
   * Does the expression select at most one value per resource of this type
   * (one plain path, no repeating element on the way)? Then conditions ANDed
   * on it hold for the same value (see SearchParser: date and number ranges).
   */
  isSingleValued(resourceType: string, expression: string): boolean {
    // several parts may pick types of one choice element: `(X.value as Quantity) | (X.value as SampledData)`
    const paths = new Set(
      splitUnion(expression)
        .filter((p) => this.appliesTo(p, resourceType))
        .map((p) => (/^\(([^()]+)\s+as\s+[A-Za-z]+\)$/.exec(p)?.[1] ?? p).trim().replace(/\.(as|ofType)\([A-Za-z]+\)$/, '')),
    );
    if (paths.size !== 1) return false;
    const segments = splitPath([...paths][0]);
    if (/^[A-Z]/.test(segments[0])) segments.shift();
    let ctx: PathContext = { type: resourceType, prefix: '' };
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      if (/^(as|ofType)\(/.test(seg)) continue;
      if (!/^[a-z][A-Za-z0-9]*$/.test(seg)) return false;
      const elements = this.defs.types[ctx.type]?.elements;
      const rel = ctx.prefix ? `${ctx.prefix}.${seg}` : seg;
      const el = elements?.[rel] ?? elements?.[`${rel}[x]`];
      if (!el || el.array || el.types.includes('Timing')) return false; // a Timing holds several dates
      if (el.contentReference) ctx = { type: ctx.type, prefix: el.contentReference };
      else if (el.types.length !== 1) return i === segments.length - 1 || /^(as|ofType)\(/.test(segments[i + 1] ?? '');
      else ctx = BACKBONE.has(el.types[0]) ? { type: ctx.type, prefix: rel } : { type: el.types[0], prefix: '' };
    }
    return true;
  }

  /** A path relative to a context (composite components), e.g. `value.as(Quantity)` in `Observation.component`. */
  compileRelative(expression: string, ctx: PathContext): Extractor {
    const parts = splitUnion(expression);
    const extractors = parts.map((p) => this.compilePart(p, ctx, false));
    if (extractors.length === 1) return extractors[0];
    const fn = ((node: any) => extractors.flatMap((e) => e(node))) as Extractor;
    fn.direct = extractors.every((e) => e.direct);
    return fn;
  }

  /** The FHIRPath engine only (the oracle of the direct accessors in tests). */
  compileFhirPath(expression: string, ctx: PathContext, rooted: boolean): Extractor {
    // `(X as T)` on several items is an error in strict FHIRPath: the intent is a filter (`ofType`);
    // resolve() needs a server: the reference text says the type
    const text = expression
      .replace(/\(([^()]+?)\s+as\s+([A-Za-z]+)\)/g, '$1.ofType($2)')
      .replace(/resolve\(\)\s+is\s+([A-Za-z]+)/g, (_m, t) => `(reference.startsWith('${t}/') or reference.contains('/${t}/'))`);
    const base = ctx.prefix ? `${ctx.type}.${ctx.prefix}` : ctx.type;
    const key = `${rooted ? '' : base + '::'}${text}`;
    let fn = this.fallbackCache.get(key);
    if (!fn) {
      const compiled = rooted
        ? fhirpath.compile(text, r4Model as any)
        : fhirpath.compile({ base, expression: text } as any, r4Model as any);
      fn = ((node: any) => {
        try {
          return (compiled(node) as any[]).map((value) => ({ value }));
        } catch {
          return [];
        }
      }) as Extractor;
      fn.direct = false;
      this.fallbackCache.set(key, fn);
    }
    return fn;
  }

  private appliesTo(part: string, resourceType: string): boolean {
    const root = /^\(?\s*([A-Za-z]+)/.exec(part)?.[1];
    if (!root) return false;
    if (root === resourceType || root === 'Resource' || root === 'DomainResource') return true;
    // relative paths (`name | alias`) apply to the base type
    return /^[a-z]/.test(root);
  }

  private compilePart(part: string, ctx: PathContext, rooted: boolean): Extractor {
    const direct = this.compileFlag(part, ctx, rooted) ?? this.compileDirect(part, ctx, rooted);
    return direct ?? this.compileFhirPath(part, ctx, rooted);
  }

  /**
   * `X.exists() and X != false` (Patient.deceased: a boolean or a dateTime) as a direct accessor:
   * false when X is absent or the boolean false, true otherwise (as FHIRPath: several values are
   * `!= false`). It runs for every Patient written.
   */
  private compileFlag(part: string, ctx: PathContext, rooted: boolean): Extractor | undefined {
    const m = /^(.+)\.exists\(\) and (.+) != false$/.exec(part.trim());
    if (!m || m[1] !== m[2]) return undefined;
    const path = this.compileDirect(m[1], ctx, rooted);
    if (!path) return undefined;
    const fn = ((node: any) => {
      const values = path(node);
      return [{ value: values.length > 1 || (values.length === 1 && values[0].value !== false), type: 'boolean' }];
    }) as Extractor;
    fn.direct = true;
    return fn;
  }

  /** undefined when the path uses anything but plain navigation and the few filters above. */
  private compileDirect(part: string, start: PathContext, rooted: boolean): Extractor | undefined {
    let text = part.trim();
    let asType: string | undefined;
    let tail: string[] = [];
    const asMatch = /^\(([^()]+)\s+as\s+([A-Za-z]+)\)((?:\.[a-z][A-Za-z0-9]*)*)$/.exec(text);
    if (asMatch) {
      text = asMatch[1].trim();
      asType = asMatch[2];
      tail = asMatch[3] ? asMatch[3].slice(1).split('.') : [];
    }
    const segments = splitPath(text);
    if (rooted) {
      const root = segments[0];
      if (/^[A-Z]/.test(root)) {
        if (root !== start.type && root !== 'Resource' && root !== 'DomainResource') return undefined;
        segments.shift();
      }
    }
    if (asType) segments.push(`as(${asType})`, ...tail);
    const steps: Step[] = [];
    let contexts: PathContext[] = [start];
    for (const seg of segments) {
      const fn = /^(where|as|ofType)\((.*)\)$/.exec(seg);
      if (fn) {
        const last = steps[steps.length - 1];
        if (!last) return undefined;
        if (fn[1] === 'as' || fn[1] === 'ofType') {
          // `as(DateTime)` (R4 composite components) names the FHIR type `dateTime`
          const t = fn[2].trim().toLowerCase();
          last.keys = last.keys.filter((k) => k.type.toLowerCase() === t);
          contexts = this.contextsOf(contexts, last.keys);
          continue;
        }
        const filter = whereFilter(fn[2]);
        if (!filter) return undefined;
        const prev = last.filter;
        last.filter = prev ? (v) => prev(v) && filter(v) : filter;
        continue;
      }
      if (!/^[a-z][A-Za-z0-9]*$/.test(seg) || contexts.length !== 1) return undefined;
      const step = this.navigate(contexts[0], seg);
      if (!step) return undefined;
      steps.push(step.step);
      contexts = step.next;
    }
    if (steps.length === 0) {
      const self = ((node: any) => (node === undefined ? [] : [{ value: node, type: start.type }])) as Extractor;
      self.direct = true;
      self.resultContext = start;
      return self;
    }
    const fn = ((node: any) => run(steps, node)) as Extractor;
    fn.direct = true;
    if (contexts.length === 1) fn.resultContext = contexts[0];
    return fn;
  }

  private navigate(ctx: PathContext, name: string): { step: Step; next: PathContext[] } | undefined {
    const elements = this.defs.types[ctx.type]?.elements;
    if (!elements) return undefined;
    const rel = ctx.prefix ? `${ctx.prefix}.${name}` : name;
    let el = elements[rel];
    let choice = false;
    if (!el) {
      el = elements[`${rel}[x]`];
      choice = true;
    }
    if (!el) return undefined;
    if (el.contentReference) {
      const target = elements[el.contentReference];
      if (!target) return undefined;
      return { step: { keys: [{ key: name, type: 'BackboneElement' }] }, next: [{ type: ctx.type, prefix: el.contentReference }] };
    }
    const keys = choice ? el.types.map((t) => ({ key: name + cap(t), type: t })) : [{ key: name, type: el.types[0] ?? 'Element' }];
    const step: Step = { keys };
    return { step, next: this.contextsOf([ctx], keys, rel) };
  }

  private contextsOf(from: PathContext[], keys: { type: string }[], rel?: string): PathContext[] {
    return keys.map((k) =>
      BACKBONE.has(k.type) && rel !== undefined ? { type: from[0].type, prefix: rel } : { type: k.type, prefix: '' },
    );
  }
}

/** `X.code` (not `X.code.y`, not `code` alone): X is its parent. */
const CODE_OF = /^(.*[^.\s(])\.code$/;

/** A Coding among the values of `X` in `X.code`: typed so (direct accessors), or, from FHIRPath, an object with a system and no Quantity value. */
const isCoding = (pv: PathValue) =>
  pv.type === 'Coding' ||
  (pv.type === undefined && pv.value !== null && typeof pv.value === 'object' && typeof pv.value.system === 'string' && !('value' in pv.value) && !('unit' in pv.value));

/** `X.code` from the values of X: a Coding whole (system, code, display), the `code` of anything else. */
function codingsOrCodes(parent: Extractor): Extractor {
  const fn = ((node: any) => {
    const out: PathValue[] = [];
    for (const pv of parent(node)) {
      const code = pv.value?.code;
      if (typeof code !== 'string') continue;
      out.push(isCoding(pv) ? { value: pv.value, type: 'Coding' } : { value: code, type: 'code' });
    }
    return out;
  }) as Extractor;
  fn.direct = parent.direct;
  return fn;
}

/** What a path selects in a resource that has none of it (most parameters of most resources): shared, never written. */
const NONE: PathValue[] = Object.freeze([]) as unknown as PathValue[];

/**
 * The values a compiled path selects. It runs for every parameter of every resource written, and
 * most find nothing: no array is made until a value is found.
 */
function run(steps: Step[], node: any): PathValue[] {
  if (node === null || typeof node !== 'object') return NONE;
  let current = select(steps[0], node, undefined);
  for (let i = 1; current && i < steps.length; i++) {
    let next: PathValue[] | undefined;
    for (const { value } of current) if (value !== null && typeof value === 'object') next = select(steps[i], value, next);
    current = next;
  }
  return current ?? NONE;
}

/** The values one step selects in an object, appended to `into` (made on the first value found). */
function select(step: Step, value: any, into: PathValue[] | undefined): PathValue[] | undefined {
  for (const { key, type } of step.keys) {
    const v = value[key];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) {
      for (const item of v) if (item !== null && (!step.filter || step.filter(item))) (into ??= []).push({ value: item, type });
    } else if (!step.filter || step.filter(v)) (into ??= []).push({ value: v, type });
  }
  return into;
}

/** `resolve() is Patient` and `system='email'` filters; undefined for anything else. */
function whereFilter(body: string): ((v: any) => boolean) | undefined {
  const resolveIs = /^resolve\(\)\s+is\s+([A-Za-z]+)$/.exec(body.trim());
  if (resolveIs) {
    const t = resolveIs[1];
    return (v) => referenceType(v?.reference) === t;
  }
  const eq = /^([a-z][A-Za-z0-9]*)\s*=\s*'([^'\\]*)'$/.exec(body.trim());
  if (eq) {
    const [, field, literal] = eq;
    return (v) => v?.[field] === literal;
  }
  return undefined;
}

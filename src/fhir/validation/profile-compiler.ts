import type { ElementDefinition, StructureDefinition } from 'fhir/r4';
import type { CodeSet } from './terminology';

/**
 * A profile's snapshot compiled into a tree the validator walks along the
 * instance: element → children (by element id) and slices, with what the
 * profile adds to the base definition (cardinality, types, fixed/pattern,
 * required bindings, target profiles, slicing by value/pattern/type).
 */

export interface Item {
  /** the JSON value (primitive, object) */
  value: unknown;
  /** `_x` of a primitive: its id and extensions */
  ext?: Record<string, unknown>;
  /** FHIR type of the value */
  type: string;
  /** FHIRPath expression of the value */
  path: string;
}

export interface ProfileNode {
  id: string;
  /** JSON name; for a choice element its base (`value`) */
  name: string;
  choice: boolean;
  min: number;
  max: number;
  /** allowed type codes */
  types: string[];
  /** type code → profiles the value must conform to (extensions, data type profiles) */
  typeProfiles?: Map<string, string[]>;
  /** allowed Reference target resource types; undefined: not restricted (or not resolvable) */
  targetTypes?: Set<string>;
  fixed?: unknown;
  pattern?: unknown;
  binding?: { valueSet: string; codes: CodeSet };
  children: ProfileNode[];
  slicing?: { rules: string; matchers?: Map<ProfileNode, (item: Item) => boolean> };
  slices: ProfileNode[];
  sliceName?: string;
}

export interface CompiledProfile {
  url: string;
  name: string;
  type: string;
  root: ProfileNode;
}

/** What the compiler needs from around it. */
export interface ProfileContext {
  expandValueSet(url: string): CodeSet | undefined;
  /** the resource type a target profile constrains; undefined when unknown */
  targetType(profileUrl: string): string | undefined;
}

const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

function typeCode(t: NonNullable<ElementDefinition['type']>[number]): string {
  if (t.code.startsWith('http://hl7.org/fhirpath/System.')) {
    return t.extension?.find((e) => e.url === FHIR_TYPE_EXT)?.valueUrl ?? 'string';
  }
  return t.code;
}

/** The value of the element's fixed[x] / pattern[x], if any. */
function valueOf(el: ElementDefinition, prefix: 'fixed' | 'pattern'): unknown {
  for (const key of Object.keys(el)) {
    if (key.startsWith(prefix) && key.length > prefix.length && /[A-Z]/.test(key[prefix.length])) {
      return (el as unknown as Record<string, unknown>)[key];
    }
  }
  return undefined;
}

export function compileProfile(sd: StructureDefinition, ctx: ProfileContext): CompiledProfile | undefined {
  const elements = sd.snapshot?.element;
  if (!elements?.length || !sd.type) return undefined;
  const byId = new Map<string, ProfileNode>();
  let root: ProfileNode | undefined;
  for (const el of elements) {
    const id = el.id ?? el.path;
    const node = toNode(el, id, ctx);
    byId.set(id, node);
    const dot = id.lastIndexOf('.');
    if (dot < 0) {
      root = node;
      continue;
    }
    const last = id.slice(dot + 1);
    const colon = last.indexOf(':');
    if (colon >= 0) {
      // a slice: listed under the sliced element (`Observation.category:us-core` under `Observation.category`)
      const sliced = byId.get(id.slice(0, dot + 1 + colon));
      if (sliced) {
        node.sliceName = last.slice(colon + 1);
        sliced.slices.push(node);
      }
      continue;
    }
    byId.get(id.slice(0, dot))?.children.push(node);
  }
  if (!root) return undefined;
  const elementById = new Map(elements.map((e) => [e.id ?? e.path, e]));
  for (const node of byId.values()) if (node.slicing) node.slicing.matchers = sliceMatchers(node, elementById.get(node.id)!);
  prune(root, elementById);
  return { url: sd.url!, name: sd.name ?? sd.id ?? sd.url!, type: sd.type, root };
}

/**
 * Drops the elements a snapshot lists without constraining them beyond the
 * base definition (most of it): the walk then only visits what the profile
 * adds. Returns true when `node` itself adds nothing.
 */
function prune(node: ProfileNode, elements: Map<string, ElementDefinition>): boolean {
  node.children = node.children.filter((c) => !prune(c, elements));
  for (const s of node.slices) prune(s, elements);
  const el = elements.get(node.id);
  const baseMax = el?.base?.max === undefined || el.base.max === '*' ? Infinity : Number(el.base.max);
  const restricts =
    !el?.base ||
    node.min > (el.base.min ?? 0) ||
    node.max < baseMax ||
    node.choice ||
    node.fixed !== undefined ||
    node.pattern !== undefined ||
    !!node.binding ||
    !!node.targetTypes ||
    !!node.typeProfiles ||
    node.slices.length > 0 ||
    node.slicing?.rules === 'closed';
  return !restricts && node.children.length === 0 && node.sliceName === undefined;
}

function toNode(el: ElementDefinition, id: string, ctx: ProfileContext): ProfileNode {
  const lastSegment = el.path.slice(el.path.lastIndexOf('.') + 1);
  const choice = lastSegment.endsWith('[x]');
  const node: ProfileNode = {
    id,
    name: choice ? lastSegment.slice(0, -3) : lastSegment,
    choice,
    min: el.min ?? 0,
    max: el.max === undefined || el.max === '*' ? Infinity : Number(el.max),
    types: (el.type ?? []).map(typeCode),
    children: [],
    slices: [],
  };
  for (const t of el.type ?? []) {
    if (t.profile?.length) (node.typeProfiles ??= new Map()).set(typeCode(t), t.profile);
    if (t.targetProfile?.length) {
      const targets = t.targetProfile.map((p) => ctx.targetType(p));
      if (!targets.includes(undefined) && !targets.includes('Resource')) node.targetTypes = new Set(targets as string[]);
    }
  }
  const fixed = valueOf(el, 'fixed');
  if (fixed !== undefined) node.fixed = fixed;
  const pattern = valueOf(el, 'pattern');
  if (pattern !== undefined) node.pattern = pattern;
  if (el.binding?.strength === 'required' && el.binding.valueSet) {
    const codes = ctx.expandValueSet(el.binding.valueSet);
    if (codes) node.binding = { valueSet: el.binding.valueSet, codes };
  }
  if (el.slicing) node.slicing = { rules: el.slicing.rules ?? 'open' };
  return node;
}

/**
 * For each slice a test telling whether an item belongs to it, from the
 * discriminators. Undefined when a discriminator cannot be evaluated here
 * (exists, profile, resolve()…): the slices are then not checked.
 */
function sliceMatchers(node: ProfileNode, el: ElementDefinition): Map<ProfileNode, (item: Item) => boolean> | undefined {
  const discriminators = el.slicing?.discriminator ?? [];
  if (!discriminators.length) return undefined;
  const matchers = new Map<ProfileNode, (item: Item) => boolean>();
  for (const slice of node.slices) {
    const tests: ((item: Item) => boolean)[] = [];
    for (const d of discriminators) {
      if (d.type === 'type' && d.path === '$this') {
        const types = new Set(slice.types);
        tests.push((item) => types.has(item.type));
      } else if ((d.type === 'value' || d.type === 'pattern') && /^(\$this|[A-Za-z]+(\.[A-Za-z]+)*)$/.test(d.path)) {
        const expected = discriminatorValue(slice, d.path);
        if (expected === undefined) return undefined;
        const steps = d.path === '$this' ? [] : d.path.split('.');
        tests.push((item) => navigate(item.value, steps).some((v) => matchesPattern(v, expected)));
      } else {
        return undefined;
      }
    }
    matchers.set(slice, (item) => tests.every((t) => t(item)));
  }
  return matchers;
}

/** The fixed/pattern value a slice requires at a discriminator path. */
function discriminatorValue(slice: ProfileNode, path: string): unknown {
  if (path === '$this') return slice.fixed ?? slice.pattern;
  const steps = path.split('.');
  let node: ProfileNode | undefined = slice;
  for (let i = 0; i < steps.length && node; i++) {
    // a pattern on an ancestor (patternCodeableConcept on the slice) holds the value deeper down
    const own: unknown = node.fixed ?? node.pattern;
    if (own !== undefined) return first(navigate(own, steps.slice(i)));
    node = node.children.find((c) => c.name === steps[i]);
  }
  const value = node ? (node.fixed ?? node.pattern) : undefined;
  if (value !== undefined) return value;
  // extensions are sliced by url: the slice's extension definition names it
  if (path === 'url' && slice.typeProfiles?.get('Extension')?.length) return slice.typeProfiles.get('Extension')![0];
  return undefined;
}

const first = (values: unknown[]) => values[0];

/** Values at a simple dotted path, arrays flattened. */
export function navigate(value: unknown, steps: string[]): unknown[] {
  let current = [value];
  for (const step of steps) {
    const next: unknown[] = [];
    for (const v of current) {
      if (v === null || typeof v !== 'object') continue;
      const child = (v as Record<string, unknown>)[step];
      if (Array.isArray(child)) next.push(...child);
      else if (child !== undefined) next.push(child);
    }
    current = next;
  }
  return current;
}

/** pattern[x] semantics (elementdefinition-definitions.html#ElementDefinition.pattern_x_): the instance has at least what the pattern has. */
export function matchesPattern(instance: unknown, pattern: unknown): boolean {
  if (pattern === null || typeof pattern !== 'object') return instance === pattern;
  if (Array.isArray(pattern)) {
    const items = Array.isArray(instance) ? instance : [instance];
    return pattern.every((p) => items.some((i) => matchesPattern(i, p)));
  }
  if (instance === null || typeof instance !== 'object' || Array.isArray(instance)) return false;
  for (const [k, p] of Object.entries(pattern)) {
    if (!matchesPattern((instance as Record<string, unknown>)[k], p)) return false;
  }
  return true;
}

/** fixed[x] semantics: exactly equal. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as any)[k], (b as any)[k]));
}

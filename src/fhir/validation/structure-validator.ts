import type { OperationOutcomeIssue } from 'fhir/r4';
import { issue } from '../errors';
import { clip } from './primitives';
import { PropRule, SchemaCompiler, TypeSchema } from './structure-schema';
import { checkXhtml } from './xhtml';

/**
 * Structural validation against the base R4 definitions (json.html,
 * resource.html, datatypes.html): unknown elements, JSON types, primitive
 * formats, cardinality, choice types, `_element` extensions, contained and
 * nested resources, Extension ext-1, Narrative txt-1/txt-2, required
 * bindings and Reference targets.
 *
 * Issue codes decide the HTTP status (storage.module.ts): `structure`
 * (malformed JSON for FHIR: unknown or mistyped elements, bad formats) is
 * 400; `required`, `invariant`, `code-invalid`, `value` (rule violations) 422.
 */
/** A resource inside another one (contained, Bundle.entry.resource…), where it sits. */
export interface NestedResource {
  resource: Record<string, unknown>;
  path: string;
}

/**
 * How deep elements may nest. FHIR sets no limit; real resources stay far below (nested
 * QuestionnaireResponse items, Parameters parts: tens). Deeper input is refused before its
 * recursion could exhaust the stack of every walk after validation (indexing, FHIRPath, serialization).
 */
export const MAX_ELEMENT_DEPTH = 128;

export class StructureValidator {
  private readonly element: TypeSchema;
  /** element nesting of the object being checked, during one validate() */
  private depth = 0;
  /** collects the nested resources during one (synchronous) validate() */
  private nested?: NestedResource[];
  /** the resource whose `contained` list local references (`#id`) resolve against */
  private container?: Record<string, unknown>;

  constructor(readonly compiler: SchemaCompiler) {
    this.element = compiler.dataType('Element')!;
  }

  /** Issues of a resource (empty when valid); nested resources are added to `nested`. */
  validate(resource: unknown, nested?: NestedResource[]): OperationOutcomeIssue[] {
    const issues: OperationOutcomeIssue[] = [];
    this.nested = nested;
    this.depth = 0;
    try {
      this.resource(resource, '', issues, 'root');
    } finally {
      this.nested = undefined;
    }
    return issues;
  }

  /**
   * A resource at the root, contained, or nested in Bundle.entry.resource /
   * Parameters.parameter.resource. `path` is where it sits ('' for the root).
   */
  resource(value: unknown, path: string, issues: OperationOutcomeIssue[], place: 'root' | 'contained' | 'nested'): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      issues.push(issue('structure', `a resource must be a JSON object, got ${jsonType(value)}`, path ? [path] : undefined));
      return;
    }
    const type = (value as { resourceType?: unknown }).resourceType;
    const schema = typeof type === 'string' ? this.compiler.resource(type) : undefined;
    if (!schema) {
      issues.push(issue('structure', `unknown resourceType ${JSON.stringify(type)}`, [path ? `${path}.resourceType` : 'resourceType']));
      return;
    }
    const here = path || (type as string);
    if (place !== 'root') this.nested?.push({ resource: value as Record<string, unknown>, path: here });
    if (place === 'contained') this.containedRules(value as Record<string, any>, here, issues);
    const outer = this.container;
    if (place !== 'contained') this.container = value as Record<string, unknown>;
    try {
      this.object(schema, value as Record<string, unknown>, here, issues);
    } finally {
      this.container = outer;
    }
  }

  /** dom-2 (no nested contained) and dom-4 (no versionId/lastUpdated) for contained resources. */
  private containedRules(r: Record<string, any>, path: string, issues: OperationOutcomeIssue[]): void {
    if (r.contained !== undefined) {
      issues.push(issue('invariant', 'dom-2: a contained resource shall not contain other resources', [`${path}.contained`]));
    }
    if (r.meta && typeof r.meta === 'object' && (r.meta.versionId !== undefined || r.meta.lastUpdated !== undefined)) {
      issues.push(issue('invariant', 'dom-4: a contained resource shall not have meta.versionId or meta.lastUpdated', [`${path}.meta`]));
    }
  }

  private object(schema: TypeSchema, obj: Record<string, unknown>, path: string, issues: OperationOutcomeIssue[]): void {
    if (this.depth >= MAX_ELEMENT_DEPTH) {
      issues.push(issue('structure', `elements are nested more than ${MAX_ELEMENT_DEPTH} levels deep`, [path]));
      return;
    }
    this.depth++;
    try {
      this.members(schema, obj, path, issues);
    } finally {
      this.depth--;
    }
  }

  private members(schema: TypeSchema, obj: Record<string, unknown>, path: string, issues: OperationOutcomeIssue[]): void {
    let choices: string[] | undefined;
    let empty = true;
    for (const key in obj) {
      empty = false;
      const v = obj[key];
      const rule = schema.props.get(key);
      if (rule) {
        if (rule.choice) {
          if (choices?.includes(rule.choice)) {
            issues.push(issue('structure', `only one of the ${rule.choice} choice types is allowed (${key})`, [`${path}.${rule.step}`]));
          } else (choices ??= []).push(rule.choice);
        }
        this.property(rule, v, obj, path, issues);
      } else if (key.charCodeAt(0) === 95 /* _ */) {
        this.primitiveElement(schema, key, v, obj, path, issues);
      } else if (!(key === 'resourceType' && schema.resource)) {
        issues.push(issue('structure', `unknown element "${key}" in ${schema.name}`, [`${path}.${key}`]));
      }
    }
    if (empty) {
      issues.push(issue('invariant', 'ele-1: an element must have a value or children (empty object)', [path]));
      return;
    }
    for (const req of schema.required) {
      if (!isPresent(obj, req.keys)) {
        issues.push(issue('required', `${schema.name}.${req.element} is required (minimum cardinality 1)`, [`${path}.${req.element.replace('[x]', '')}`]));
      }
    }
    if (schema.type === 'Extension') this.extensionRules(obj, path, issues);
  }

  private property(rule: PropRule, v: unknown, obj: Record<string, unknown>, path: string, issues: OperationOutcomeIssue[]): void {
    const here = `${path}.${rule.step}`;
    if (!rule.array) {
      if (Array.isArray(v)) {
        issues.push(issue('structure', `${rule.element} must be a single value, not an array`, [here]));
        return;
      }
      this.value(rule, v, here, issues);
      return;
    }
    if (!Array.isArray(v)) {
      issues.push(issue('structure', `${rule.element} must be an array`, [here]));
      return;
    }
    if (v.length === 0) {
      issues.push(issue('structure', `${rule.element} must not be an empty array`, [here]));
      return;
    }
    const ext = rule.kind === 'primitive' ? obj[`_${rule.key}`] : undefined;
    for (let i = 0; i < v.length; i++) {
      // in primitive arrays null holds the place of a value that only has an extension (`_given`)
      if (v[i] === null && Array.isArray(ext) && ext[i] != null) continue;
      this.value(rule, v[i], `${here}[${i}]`, issues);
    }
  }

  private value(rule: PropRule, v: unknown, path: string, issues: OperationOutcomeIssue[]): void {
    switch (rule.kind) {
      case 'primitive': {
        const problem = rule.check!(v);
        if (problem) {
          issues.push(issue('structure', `${rule.element}: ${problem}`, [path]));
          return;
        }
        if (rule.codes && !rule.codes.has(v as string)) {
          issues.push(codeIssue(String(v), rule, path));
        } else if (rule.type === 'xhtml') {
          const p = checkXhtml(v as string);
          if (p) issues.push(issue(p.kind === 'malformed' ? 'structure' : 'invariant', `Narrative.div: ${p.message}`, [path]));
        }
        return;
      }
      case 'resource':
        this.resource(v, path, issues, rule.key === 'contained' ? 'contained' : 'nested');
        return;
      default:
        if (typeof v !== 'object' || v === null || Array.isArray(v)) {
          issues.push(issue('structure', `${rule.element} must be a JSON object (${rule.type}), got ${jsonType(v)}`, [path]));
          return;
        }
        this.object(rule.schema!, v as Record<string, unknown>, path, issues);
        if (rule.codes) this.codedValue(rule, v as Record<string, any>, path, issues);
        if (rule.targets) this.referenceTarget(rule, v as Record<string, unknown>, path, issues);
    }
  }

  /** `_birthDate` / `_given`: id and extensions of a primitive (json.html §2.6.2.3). */
  private primitiveElement(
    schema: TypeSchema,
    key: string,
    v: unknown,
    obj: Record<string, unknown>,
    path: string,
    issues: OperationOutcomeIssue[],
  ): void {
    const rule = schema.props.get(key.slice(1));
    if (!rule || rule.kind !== 'primitive') {
      issues.push(issue('structure', `unknown element "${key}" in ${schema.name}`, [`${path}.${key}`]));
      return;
    }
    const here = `${path}.${rule.step}`;
    if (!rule.array) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        issues.push(issue('structure', `${key} must be a JSON object`, [here]));
        return;
      }
      this.object(this.element, v as Record<string, unknown>, here, issues);
      return;
    }
    const values = obj[rule.key];
    if (!Array.isArray(v) || v.length === 0 || (values !== undefined && (!Array.isArray(values) || values.length !== v.length))) {
      issues.push(issue('structure', `${key} must be an array as long as ${rule.key}`, [here]));
      return;
    }
    for (let i = 0; i < v.length; i++) {
      const item = v[i];
      if (item === null) {
        if (!Array.isArray(values) || values[i] == null) issues.push(issue('structure', `${key}[${i}] and ${rule.key}[${i}] are both null`, [`${here}[${i}]`]));
        continue;
      }
      if (typeof item !== 'object' || Array.isArray(item)) {
        issues.push(issue('structure', `${key}[${i}] must be a JSON object or null`, [`${here}[${i}]`]));
        continue;
      }
      this.object(this.element, item as Record<string, unknown>, `${here}[${i}]`, issues);
    }
  }

  /** ext-1: an extension has either a value[x] or nested extensions, not both and not neither. */
  private extensionRules(obj: Record<string, unknown>, path: string, issues: OperationOutcomeIssue[]): void {
    let value = false;
    for (const key in obj) {
      if (key.startsWith('value') || key.startsWith('_value')) value = true;
    }
    const nested = obj.extension !== undefined;
    if (value === nested) {
      const msg = value ? 'has both a value[x] and nested extensions' : 'has neither a value[x] nor nested extensions';
      issues.push(issue('invariant', `ext-1: the extension ${msg}`, [path]));
    }
  }

  /** Required binding on a Coding or CodeableConcept: a code from the value set. */
  private codedValue(rule: PropRule, v: Record<string, any>, path: string, issues: OperationOutcomeIssue[]): void {
    const codes = rule.codes!;
    if (rule.type === 'Coding') {
      if (typeof v.code === 'string' && !codes.has(v.code)) issues.push(codeIssue(v.code, rule, `${path}.code`));
      return;
    }
    if (rule.type !== 'CodeableConcept' || !Array.isArray(v.coding)) return;
    const coded = v.coding.filter((c: any) => c && typeof c.code === 'string');
    if (coded.length && !coded.some((c: any) => codes.has(c.code))) {
      issues.push(codeIssue(coded.map((c: any) => c.code).join(', '), rule, `${path}.coding`));
    }
  }

  /** A literal reference must point at one of the element's target types (references.html §2.3.0.1). */
  private referenceTarget(rule: PropRule, v: Record<string, unknown>, path: string, issues: OperationOutcomeIssue[]): void {
    const ref = v.reference;
    if (typeof ref !== 'string') return;
    const type = ref.startsWith('#') ? this.localType(ref) : referencedType(ref, this.compiler);
    if (type && !rule.targets!.has(type)) {
      issues.push(
        issue('value', `a reference to ${type} is not allowed here (allowed: ${[...rule.targets!].join(', ')})`, [`${path}.reference`]),
      );
    }
  }

  /** The type of the contained resource (or, for `#`, the container) a local reference points at. */
  private localType(ref: string): string | undefined {
    const container = this.container;
    if (!container) return undefined;
    if (ref === '#') return container.resourceType as string;
    const contained = Array.isArray(container.contained) ? container.contained : [];
    const target = contained.find((r: any) => r && r.id === ref.slice(1));
    return typeof target?.resourceType === 'string' ? target.resourceType : undefined;
  }
}

/** The resource type a literal reference names: `Patient/1`, `…/fhir/Patient/1/_history/2`, `Patient?identifier=…`. */
export function referencedType(ref: string, compiler: { isResourceType(t: string): boolean }): string | undefined {
  if (ref.startsWith('#') || ref.startsWith('urn:')) return undefined;
  const conditional = /^([A-Z][A-Za-z]+)\?/.exec(ref);
  if (conditional) return compiler.isResourceType(conditional[1]) ? conditional[1] : undefined;
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(ref);
  return m && compiler.isResourceType(m[1]) ? m[1] : undefined;
}

function isPresent(obj: Record<string, unknown>, keys: string[]): boolean {
  for (const k of keys) {
    if (obj[k] !== undefined && obj[k] !== null) return true;
    if (obj[`_${k}`] !== undefined) return true;
  }
  return false;
}

function codeIssue(code: string, rule: PropRule, path: string): OperationOutcomeIssue {
  return issue('code-invalid', `"${clip(code)}" is not in the required value set ${rule.valueSet} of ${rule.element}`, [path]);
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

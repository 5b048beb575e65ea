import type { OperationOutcomeIssue } from 'fhir/r4';
import { issue } from '../errors';
import { clip } from './primitives';
import { CompiledProfile, deepEqual, Item, matchesPattern, ProfileNode } from './profile-compiler';
import type { ProfileRegistry } from './profile-registry';

/**
 * Validates an instance against a compiled profile (profiling.html): the
 * cardinalities, types, fixed/pattern values, required bindings, Reference
 * targets and slices the profile adds. The instance has already passed the
 * structural validation, so JSON shapes can be trusted here. Profile
 * violations are rule violations (422), never `structure`.
 */
export class ProfileValidator {
  constructor(
    private readonly registry: ProfileRegistry,
    /** FHIR type named by a choice suffix (`Quantity`, `DateTime` → `dateTime`), if any */
    private readonly typeOfSuffix: (suffix: string) => string | undefined,
  ) {}

  validate(resource: Record<string, unknown>, profile: CompiledProfile, path: string): OperationOutcomeIssue[] {
    const issues: OperationOutcomeIssue[] = [];
    const item: Item = { value: resource, type: profile.type, path };
    this.item(profile.root, item, profile, issues, 0);
    return issues;
  }

  private children(node: ProfileNode, item: Item, profile: CompiledProfile, issues: OperationOutcomeIssue[], depth: number): void {
    const obj = (item.value !== null && typeof item.value === 'object' ? item.value : item.ext) as Record<string, unknown> | undefined;
    for (const child of node.children) {
      const items = obj ? this.collect(obj, child, item.path) : [];
      this.element(child, items, item.path, profile, issues, depth);
    }
  }

  /** The cardinality, content and slices of one element over all its values. */
  private element(node: ProfileNode, items: Item[], parentPath: string, profile: CompiledProfile, issues: OperationOutcomeIssue[], depth: number): void {
    const where = `${parentPath}.${node.name}`;
    if (items.length < node.min) {
      issues.push(issue('required', `${label(profile, node)}: minimum cardinality ${node.min}, found ${items.length}`, [where]));
    }
    if (items.length > node.max) {
      issues.push(issue('invariant', `${label(profile, node)}: maximum cardinality ${node.max}, found ${items.length}`, [where]));
    }
    for (const it of items) this.item(node, it, profile, issues, depth);
    if (node.slicing?.matchers) this.slices(node, items, parentPath, profile, issues, depth);
  }

  private slices(node: ProfileNode, items: Item[], parentPath: string, profile: CompiledProfile, issues: OperationOutcomeIssue[], depth: number): void {
    const matchers = node.slicing!.matchers!;
    const bySlice = new Map<ProfileNode, Item[]>(node.slices.map((s) => [s, []]));
    for (const it of items) {
      const slice = node.slices.find((s) => matchers.get(s)!(it));
      if (slice) bySlice.get(slice)!.push(it);
      else if (node.slicing!.rules === 'closed') {
        issues.push(issue('invariant', `${label(profile, node)}: the value matches none of the slices and the slicing is closed`, [it.path]));
      }
    }
    for (const [slice, sliceItems] of bySlice) {
      this.element(slice, sliceItems, parentPath, profile, issues, depth);
    }
  }

  /** One value against an element definition: type, fixed/pattern, binding, targets, type profiles, children. */
  private item(node: ProfileNode, it: Item, profile: CompiledProfile, issues: OperationOutcomeIssue[], depth: number): void {
    if (node.types.length && !node.types.includes(it.type)) {
      issues.push(issue('value', `${label(profile, node)}: type ${it.type} is not allowed (allowed: ${node.types.join(', ')})`, [it.path]));
      return;
    }
    if (node.fixed !== undefined && !deepEqual(it.value, node.fixed)) {
      issues.push(issue('value', `${label(profile, node)}: must be exactly ${clip(JSON.stringify(node.fixed), 120)}`, [it.path]));
    }
    if (node.pattern !== undefined && !matchesPattern(it.value, node.pattern)) {
      issues.push(issue('value', `${label(profile, node)}: must match the pattern ${clip(JSON.stringify(node.pattern), 120)}`, [it.path]));
    }
    if (node.binding) this.binding(node, it, profile, issues);
    if (node.targetTypes && it.type === 'Reference') this.target(node, it, profile, issues);
    if (node.typeProfiles && depth < 8) this.typeProfiles(node, it, issues, depth);
    if (node.children.length) this.children(node, it, profile, issues, depth);
  }

  private binding(node: ProfileNode, it: Item, profile: CompiledProfile, issues: OperationOutcomeIssue[]): void {
    const { codes, valueSet } = node.binding!;
    const inSet = (system: unknown, code: unknown) =>
      typeof code === 'string' && (codes.pairs && typeof system === 'string' ? codes.pairs.has(`${system}|${code}`) : codes.codes.has(code));
    const v = it.value as any;
    let ok = true;
    let shown = '';
    if (typeof v === 'string') {
      ok = codes.codes.has(v);
      shown = v;
    } else if (v && typeof v === 'object') {
      if (it.type === 'CodeableConcept') {
        const coded = Array.isArray(v.coding) ? v.coding.filter((c: any) => c?.code !== undefined) : [];
        ok = coded.length === 0 ? false : coded.some((c: any) => inSet(c.system, c.code));
        shown = coded.map((c: any) => `${c.system ?? ''}|${c.code}`).join(', ') || 'no code';
      } else if (v.code !== undefined) {
        ok = inSet(v.system, v.code);
        shown = `${v.system ?? ''}|${v.code}`;
      }
    }
    if (!ok) {
      issues.push(issue('code-invalid', `${label(profile, node)}: ${clip(shown, 80)} is not in the required value set ${valueSet}`, [it.path]));
    }
  }

  private target(node: ProfileNode, it: Item, profile: CompiledProfile, issues: OperationOutcomeIssue[]): void {
    const ref = (it.value as { reference?: unknown }).reference;
    if (typeof ref !== 'string') return;
    const type = this.registry.referencedType(ref);
    if (type && !node.targetTypes!.has(type)) {
      issues.push(
        issue('value', `${label(profile, node)}: a reference to ${type} is not allowed (allowed: ${[...node.targetTypes!].join(', ')})`, [
          `${it.path}.reference`,
        ]),
      );
    }
  }

  /** A value whose type names profiles (extensions, data type profiles) must conform to one of the loaded ones. */
  private typeProfiles(node: ProfileNode, it: Item, issues: OperationOutcomeIssue[], depth: number): void {
    const urls = node.typeProfiles!.get(it.type);
    if (!urls) return;
    const loaded = urls.map((u) => this.registry.get(u)).filter((p): p is CompiledProfile => !!p);
    if (loaded.length === 0 || loaded.length < urls.length) return; // an unknown one might be the one it conforms to
    let best: OperationOutcomeIssue[] | undefined;
    for (const p of loaded) {
      const found: OperationOutcomeIssue[] = [];
      this.item(p.root, { ...it, type: p.type }, p, found, depth + 1);
      if (!found.length) return;
      if (!best || found.length < best.length) best = found;
    }
    issues.push(...best!);
  }

  /** The values of a child element in a JSON object, with their FHIR types and paths. */
  private collect(obj: Record<string, unknown>, node: ProfileNode, parentPath: string): Item[] {
    if (!node.choice) {
      const type = node.types[0] ?? 'BackboneElement';
      return items(obj[node.name], obj[`_${node.name}`], type, `${parentPath}.${node.name}`);
    }
    const out: Item[] = [];
    for (const key in obj) {
      if (!key.startsWith(node.name) || key.length === node.name.length) continue;
      const type = this.typeOfSuffix(key.slice(node.name.length));
      if (type) out.push(...items(obj[key], obj[`_${key}`], type, `${parentPath}.${node.name}.ofType(${type})`));
    }
    return out;
  }
}

function items(value: unknown, ext: unknown, type: string, path: string): Item[] {
  if (value === undefined && ext === undefined) return [];
  if (!Array.isArray(value) && !Array.isArray(ext)) {
    return [{ value, ext: ext as Record<string, unknown> | undefined, type, path }];
  }
  const values = Array.isArray(value) ? value : [];
  const exts = Array.isArray(ext) ? ext : [];
  const out: Item[] = [];
  for (let i = 0; i < Math.max(values.length, exts.length); i++) {
    out.push({ value: values[i] ?? undefined, ext: exts[i] ?? undefined, type, path: `${path}[${i}]` });
  }
  return out;
}

function label(profile: CompiledProfile, node: ProfileNode): string {
  return `${profile.name} ${node.id}`;
}

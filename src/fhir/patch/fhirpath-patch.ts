import * as fhirpath from 'fhirpath';
import * as r4Model from 'fhirpath/fhir-context/r4';
import type { Parameters, ParametersParameter, Resource } from 'fhir/r4';
import { badRequest, FhirError } from '../errors';
import type { SchemaCompiler, TypeSchema } from '../validation/structure-schema';

/**
 * FHIRPath Patch (R4 fhirpatch.html): a Parameters resource of `operation`s, each with a `type`
 * (add, insert, delete, replace, move), a FHIRPath `path` and, by type, `name`, `value`, `index`,
 * `source`, `destination`. Paths are evaluated by the `fhirpath` engine on the resource; its
 * results are the resource's own objects, so a complex element is found where it sits by
 * identity, and a primitive (or a list to insert into or move within) through its parent: the
 * path up to its last `.name` (with an optional `[n]`). What an element is (a list? a choice? its
 * parts?) comes from the validator's schemas of the definitions. Every operation applies to what
 * the previous ones left; any failure rejects the whole patch (422), nothing is half applied.
 */
export function applyFhirPathPatch(resource: Resource, parameters: Parameters, schemas: SchemaCompiler): Resource {
  const doc = JSON.parse(JSON.stringify(resource)) as Record<string, any>;
  const ops = (parameters.parameter ?? []).filter((p) => p.name === 'operation');
  if (ops.length === 0 || ops.length !== (parameters.parameter ?? []).length) {
    throw badRequest('a FHIRPath Patch is a Parameters resource of "operation" parameters');
  }
  ops.forEach((op, i) => {
    try {
      new PatchOperation(doc, op, schemas).apply();
    } catch (err) {
      if (err instanceof FhirError) throw FhirError.of(err.status, err.issues[0].code, `FHIRPath Patch operation ${i}: ${err.message}`);
      throw FhirError.of(422, 'processing', `FHIRPath Patch operation ${i}: ${(err as Error).message}`);
    }
  });
  return doc as Resource;
}

/** Where a value sits: `holder[key]`, or `holder[key][index]` in a list. */
interface Slot {
  holder: Record<string, any>;
  key: string;
  index?: number;
}

/** A FHIR element name (never `__proto__` and the like: names become JSON keys of the resource). */
const ELEMENT_NAME = /^[a-z][A-Za-z0-9]*$/;
const unprocessable = (message: string) => FhirError.of(422, 'processing', message);

class PatchOperation {
  private readonly parts = new Map<string, ParametersParameter>();

  constructor(
    private readonly doc: Record<string, any>,
    op: ParametersParameter,
    private readonly schemas: SchemaCompiler,
  ) {
    for (const p of op.part ?? []) this.parts.set(p.name, p);
  }

  apply(): void {
    const type = this.parts.get('type')?.valueCode;
    switch (type) {
      case 'add':
        return this.add();
      case 'insert':
        return this.insert();
      case 'delete':
        return this.delete();
      case 'replace':
        return this.replace();
      case 'move':
        return this.move();
      default:
        throw badRequest(`unknown operation type "${type ?? ''}" (add, insert, delete, replace, move)`);
    }
  }

  private get path(): string {
    const path = this.parts.get('path')?.valueString;
    if (!path) throw badRequest('the operation has no path');
    if (/\bresolve\s*\(/.test(path)) throw badRequest('a FHIRPath Patch path may not use resolve()');
    return path;
  }

  private integer(name: string): number {
    const v = this.parts.get(name)?.valueInteger;
    if (!Number.isInteger(v) || v! < 0) throw badRequest(`the operation needs a non-negative integer "${name}"`);
    return v!;
  }

  /** add: the element `name` appended to the single element at `path` (a non-repeating one only if absent). */
  private add(): void {
    const name = this.parts.get('name')?.valueString;
    if (!name || !ELEMENT_NAME.test(name)) throw badRequest('add needs the "name" of an element');
    const target = this.single(this.path);
    if (!isObject(target)) throw unprocessable(`${this.path} is not an element that can hold "${name}"`);
    const { key, value } = this.value(target, name);
    const current = target[key];
    if (Array.isArray(current)) current.push(value);
    else if (current !== undefined) throw unprocessable(`${this.path}.${name} already exists (use replace)`);
    else target[key] = this.repeats(target, key) ? [value] : value;
  }

  /** insert: `value` into the list at `path`, at `index` (0 up to the list's length). */
  private insert(): void {
    const { holder, key } = this.list(this.path);
    const list: unknown[] = holder[key] ?? [];
    const index = this.integer('index');
    if (index > list.length) throw unprocessable(`index ${index} is past the end of ${this.path} (${list.length} items)`);
    list.splice(index, 0, this.value(holder, key).value);
    holder[key] = list;
    spliceExtensions(holder, key, (x) => x.splice(index, 0, null));
  }

  /** delete: the single element at `path`; nothing when the path selects nothing. */
  private delete(): void {
    const found = this.evaluate(this.path);
    if (found.length === 0) return;
    if (found.length > 1) throw unprocessable(`${this.path} selects ${found.length} elements; delete removes one`);
    const slot = this.slotOf(this.path, found[0]);
    if (slot.index === undefined) {
      delete slot.holder[slot.key];
      delete slot.holder[`_${slot.key}`];
      return;
    }
    const list = slot.holder[slot.key] as unknown[];
    list.splice(slot.index, 1);
    spliceExtensions(slot.holder, slot.key, (x) => x.splice(slot.index!, 1));
    if (list.length === 0) delete slot.holder[slot.key];
  }

  /** replace: the single element at `path` by `value` (a choice element may change type: `valueString` → `valueQuantity`). */
  private replace(): void {
    const found = this.single(this.path);
    const slot = this.slotOf(this.path, found);
    const choice = this.choiceBase(slot.holder, slot.key);
    const { key, value } = this.value(slot.holder, choice ?? slot.key);
    if (slot.index !== undefined) {
      if (key !== slot.key) throw unprocessable(`the value's type does not fit ${this.path}`);
      slot.holder[slot.key][slot.index] = value;
      return;
    }
    if (key !== slot.key) {
      if (!choice) throw unprocessable(`the value's type does not fit ${this.path}`);
      delete slot.holder[slot.key];
      delete slot.holder[`_${slot.key}`];
    }
    slot.holder[key] = value;
  }

  /** move: within the list at `path`, the item at `source` to `destination`. */
  private move(): void {
    const { holder, key } = this.list(this.path);
    const list = holder[key];
    const source = this.integer('source');
    const destination = this.integer('destination');
    if (!Array.isArray(list) || source >= list.length || destination >= list.length) {
      throw unprocessable(`source ${source} or destination ${destination} is outside ${this.path}`);
    }
    const move = (x: unknown[]) => x.splice(destination, 0, x.splice(source, 1)[0]);
    move(list);
    spliceExtensions(holder, key, move);
  }

  private evaluate(path: string): unknown[] {
    try {
      return fhirpath.evaluate(this.doc, path, undefined, r4Model as any) as unknown[];
    } catch (err) {
      throw badRequest(`invalid FHIRPath "${path}": ${(err as Error).message}`);
    }
  }

  private single(path: string): any {
    const found = this.evaluate(path);
    if (found.length !== 1) throw unprocessable(`${path} must select exactly one element, it selects ${found.length}`);
    return found[0];
  }

  /** A list's holder and key: the path's parent (one element) and its last name, which must be a list element. */
  private list(path: string): { holder: Record<string, any>; key: string } {
    const split = splitLast(path);
    if (!split || split.index !== undefined) throw badRequest(`${path} must end in the name of a list element`);
    const holder = this.single(split.parent);
    if (!isObject(holder)) throw unprocessable(`${split.parent} is not an element`);
    if (holder[split.name] !== undefined && !Array.isArray(holder[split.name])) throw unprocessable(`${path} is not a list`);
    if (holder[split.name] === undefined && !this.repeats(holder, split.name)) throw unprocessable(`${path} is not a list`);
    return { holder, key: split.name };
  }

  /**
   * Where the value the path selected sits. An object is looked up by identity (any path); a
   * primitive through the parent path and the last name (`Patient.birthDate`, `Patient.name[0].given[1]`).
   */
  private slotOf(path: string, found: unknown): Slot {
    if (isObject(found)) {
      const slot = locate(this.doc, found);
      if (!slot) throw unprocessable(`${path} does not select an element of the resource`);
      return slot;
    }
    const split = splitLast(path);
    if (!split) throw badRequest(`${path}: a primitive value is patched by a path ending in its element name`);
    const holder = this.single(split.parent);
    const key = isObject(holder) ? keyOf(holder, split.name) : undefined;
    if (!key) throw unprocessable(`${path} does not select an element of the resource`);
    const v = holder[key];
    if (!Array.isArray(v)) return { holder, key };
    const index = split.index ?? (v.length === 1 ? 0 : -1);
    if (index < 0 || index >= v.length || v[index] !== found) throw unprocessable(`${path} does not select one item of ${split.name}`);
    return { holder, key, index };
  }

  /**
   * The operation's `value` for the element `name` of `holder`: a `value[x]` (the JSON key of a
   * choice element becomes `name` + its type), or `part`s naming the elements of an anonymous one
   * (`Patient.contact`).
   */
  private value(holder: Record<string, any>, name: string): { key: string; value: unknown } {
    const part = this.parts.get('value');
    if (!part) throw badRequest('the operation needs a value');
    return built(part, name, this.schemaOf(holder), 'the value');
  }

  /** Whether `key` of this object is a repeating element (unknown elements: no). */
  private repeats(holder: Record<string, any>, key: string): boolean {
    return this.schemaOf(holder)?.props.get(key)?.array === true;
  }

  /** `valueString` → `value` when the key is a choice element's in its object (extensions included). */
  private choiceBase(holder: Record<string, any>, key: string): string | undefined {
    return this.schemaOf(holder)?.props.get(key)?.choice?.slice(0, -'[x]'.length);
  }

  /** The schema of an object of the resource, from the JSON keys on its way from the root. */
  private schemaOf(target: Record<string, any>): TypeSchema | undefined {
    const slots: Slot[] = [];
    for (let node = target; node !== this.doc; ) {
      const slot = locate(this.doc, node);
      if (!slot) return undefined;
      slots.unshift(slot);
      node = slot.holder;
    }
    let schema = this.schemas.resource(this.doc.resourceType);
    for (const { holder, key, index } of slots) {
      const rule = schema?.props.get(key);
      const child = index === undefined ? holder[key] : holder[key][index];
      // a contained resource (or Bundle.entry.resource) has its own type's schema
      schema = rule?.kind === 'resource' ? this.schemas.resource(child.resourceType) : rule?.schema;
    }
    return schema;
  }
}

/**
 * An element `name` built from a parameter: its `value[x]` (a choice element's key is `name` +
 * the value's type), else its `part`s as the element's children, lists where `schema` (of the
 * object that will hold it) says the element repeats.
 */
function built(p: ParametersParameter, name: string, schema: TypeSchema | undefined, what: string): { key: string; value: unknown } {
  const typed = typedValue(p);
  if (typed) {
    const choice = schema !== undefined && !schema.props.has(name) && schema.props.get(name + typed.type)?.choice !== undefined;
    return { key: choice ? name + typed.type : name, value: typed.value };
  }
  if (!p.part?.length) throw badRequest(`${what} has neither a value[x] nor parts`);
  const childSchema = schema?.props.get(name)?.schema;
  const out: Record<string, unknown> = {};
  for (const child of p.part) {
    if (!ELEMENT_NAME.test(child.name)) throw badRequest(`"${child.name}" is not an element name`);
    const { key, value } = built(child, child.name, childSchema, `part "${child.name}"`);
    if (childSchema?.props.get(key)?.array || Array.isArray(out[key])) out[key] = [...((out[key] as unknown[]) ?? []), value];
    else if (out[key] !== undefined) out[key] = [out[key], value];
    else out[key] = value;
  }
  return { key: name, value: out };
}

function isObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Where an object sits in the document (by identity), or undefined. */
function locate(doc: Record<string, any>, target: object): Slot | undefined {
  const stack: Record<string, any>[] = [doc];
  while (stack.length) {
    const holder = stack.pop()!;
    for (const key of Object.keys(holder)) {
      const v = holder[key];
      if (v === target) return { holder, key };
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          if (v[i] === target) return { holder, key, index: i };
          if (isObject(v[i])) stack.push(v[i]);
        }
      } else if (isObject(v)) stack.push(v);
    }
  }
  return undefined;
}

/** The JSON key of element `name` in an object: itself, or `name` + type for a choice element present. */
function keyOf(holder: Record<string, any>, name: string): string | undefined {
  if (holder[name] !== undefined) return name;
  return Object.keys(holder).find((k) => k.length > name.length && k.startsWith(name) && /[A-Z]/.test(k[name.length]));
}

/** `a.b.where(c.d = 'x').e[2]` → parent `a.b.where(c.d = 'x')`, name `e`, index 2; undefined when it does not end in a name. */
function splitLast(path: string): { parent: string; name: string; index?: number } | undefined {
  const m = /\.([a-z][A-Za-z0-9]*)(?:\[(\d+)\])?\s*$/.exec(path);
  if (!m) return undefined;
  const parent = path.slice(0, m.index);
  let depth = 0;
  let quote = false;
  for (const c of parent) {
    if (c === "'") quote = !quote;
    else if (!quote && c === '(') depth++;
    else if (!quote && c === ')') depth--;
  }
  if (depth !== 0 || quote) return undefined;
  return { parent, name: m[1], index: m[2] === undefined ? undefined : Number(m[2]) };
}

/** A part's `value[x]`: its JSON value and the type it names (`valueDate` → Date). */
function typedValue(p: ParametersParameter): { type: string; value: unknown } | undefined {
  for (const [k, v] of Object.entries(p)) {
    if (k.startsWith('value') && k.length > 5 && v !== undefined) return { type: k.slice(5), value: v };
  }
  if (p.resource) return { type: 'Resource', value: p.resource };
  return undefined;
}

/** Keeps a primitive list's `_name` extensions list aligned with it. */
function spliceExtensions(holder: Record<string, any>, key: string, change: (list: unknown[]) => void): void {
  const ext = holder[`_${key}`];
  if (!Array.isArray(ext)) return;
  change(ext);
  if (ext.every((x) => x === null)) delete holder[`_${key}`];
}

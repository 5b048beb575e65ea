import type { CompactDefinitions, ElementInfo } from '../definitions/definitions';
import { compilePrimitiveChecks, PrimitiveCheck } from './primitives';

/**
 * The base R4 StructureDefinitions compiled, once per type, into what the
 * validator needs on every write: for each JSON property name of an object
 * the rule that applies (choice types `value[x]` expanded to `valueQuantity`,
 * `valueString`…), and the properties that must be present. Compiled lazily
 * and memoized; nested backbone elements and `contentReference`s
 * (Questionnaire.item.item) resolve to the same memoized schemas.
 */

export type ValueKind = 'primitive' | 'complex' | 'resource';

export interface PropRule {
  /** JSON property name: `given`, `valueQuantity` */
  key: string;
  /** FHIRPath step for issue expressions: `given`, `value.ofType(Quantity)` */
  step: string;
  /** element name in the definition: `given`, `value[x]` */
  element: string;
  /** the FHIR type of the value */
  type: string;
  kind: ValueKind;
  /** max > 1: the JSON value is an array */
  array: boolean;
  /** set for choice elements: the `[x]` element name, for "only one of" */
  choice?: string;
  /** primitives: JSON type and format */
  check?: PrimitiveCheck;
  /** complex values: the schema of the object */
  schema?: TypeSchema;
  /** required binding whose codes are enumerable */
  valueSet?: string;
  codes?: Set<string>;
  /** Reference target resource types; undefined: any */
  targets?: Set<string>;
}

export interface RequiredElement {
  element: string;
  /** JSON property names any of which satisfies it (choice variants; `_x` counts too) */
  keys: string[];
}

export interface TypeSchema {
  /** `Observation`, `Observation.referenceRange`, `HumanName` */
  name: string;
  /** the data type or resource type whose definition this is (`Extension`, `Narrative`) */
  type: string;
  /** true for a resource's root */
  resource: boolean;
  props: Map<string, PropRule>;
  required: RequiredElement[];
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export class SchemaCompiler {
  readonly primitiveChecks: Map<string, PrimitiveCheck>;
  private readonly memo = new Map<string, TypeSchema>();
  /** type → parent element path ('' for the root) → child element paths */
  private readonly children = new Map<string, Map<string, string[]>>();
  private readonly codeSets = new Map<string, Set<string>>();
  private readonly resourceTypes: Set<string>;

  constructor(readonly defs: CompactDefinitions) {
    const primitives = Object.keys(defs.types).filter((t) => defs.types[t].kind === 'primitive-type');
    this.primitiveChecks = compilePrimitiveChecks(defs.primitiveRegex, primitives);
    this.resourceTypes = new Set(defs.resourceTypes);
  }

  isResourceType(type: string): boolean {
    return this.resourceTypes.has(type);
  }

  isPrimitive(type: string): boolean {
    return this.primitiveChecks.has(type);
  }

  /** The schema of a resource type's root, or undefined for an unknown type. */
  resource(type: string): TypeSchema | undefined {
    return this.resourceTypes.has(type) ? this.build(type, '') : undefined;
  }

  /** The schema of a complex data type (HumanName, Extension…). */
  dataType(type: string): TypeSchema | undefined {
    const info = this.defs.types[type];
    return info && info.kind === 'complex-type' ? this.build(type, '') : undefined;
  }

  /** Compiles every resource and data type now (benchmarks, warm start). */
  compileAll(): void {
    for (const t of this.defs.resourceTypes) this.resource(t);
  }

  private build(type: string, path: string): TypeSchema {
    const name = path ? `${type}.${path}` : type;
    const known = this.memo.get(name);
    if (known) return known;
    const schema: TypeSchema = {
      name,
      type,
      resource: !path && this.defs.types[type].kind === 'resource',
      props: new Map(),
      required: [],
    };
    this.memo.set(name, schema); // before the children: recursive structures end here
    for (const childPath of this.childPaths(type, path)) this.addElement(schema, type, childPath);
    return schema;
  }

  private addElement(schema: TypeSchema, type: string, childPath: string): void {
    const elements = this.defs.types[type].elements;
    const info = elements[childPath];
    const element = childPath.slice(childPath.lastIndexOf('.') + 1);
    // a contentReference element has the cardinality of its own definition and the content of the referenced one
    const contentPath = info.contentReference ?? childPath;
    const content: ElementInfo = elements[contentPath] ?? info;
    const backbone = this.childPaths(type, contentPath).length > 0;
    const keys: string[] = [];
    if (element.endsWith('[x]')) {
      const base = element.slice(0, -3);
      for (const t of content.types) {
        const key = base + cap(t);
        keys.push(key);
        schema.props.set(key, this.rule(key, `${base}.ofType(${t})`, element, t, info, content, undefined, element));
      }
    } else {
      // Resource.id is an `id` (R4's definitions type it as a plain string)
      const t = schema.resource && element === 'id' ? 'id' : backbone ? 'BackboneElement' : content.types[0];
      const nested = backbone ? this.build(type, contentPath) : undefined;
      keys.push(element);
      schema.props.set(element, this.rule(element, element, element, t, info, content, nested));
    }
    if (info.min > 0) schema.required.push({ element, keys });
  }

  private rule(
    key: string,
    step: string,
    element: string,
    type: string,
    info: ElementInfo,
    content: ElementInfo,
    nested?: TypeSchema,
    choice?: string,
  ): PropRule {
    const rule: PropRule = { key, step, element, type, kind: 'complex', array: info.array };
    if (choice) rule.choice = choice;
    if (nested) {
      rule.schema = nested;
    } else if (this.primitiveChecks.has(type)) {
      rule.kind = 'primitive';
      rule.check = this.primitiveChecks.get(type);
    } else if (this.defs.types[type]?.kind === 'resource') {
      // Resource (contained, Bundle.entry.resource…): validated as the type it names
      rule.kind = 'resource';
    } else {
      rule.schema = this.dataType(type) ?? this.dataType('Element');
    }
    if (content.requiredValueSet && this.defs.valueSets[content.requiredValueSet]) {
      rule.valueSet = content.requiredValueSet;
      rule.codes = this.codeSet(content.requiredValueSet);
    }
    if (type === 'Reference' && content.targets && !content.targets.includes('*')) {
      rule.targets = new Set(content.targets);
    }
    return rule;
  }

  private codeSet(url: string): Set<string> {
    let set = this.codeSets.get(url);
    if (!set) this.codeSets.set(url, (set = new Set(this.defs.valueSets[url])));
    return set;
  }

  private childPaths(type: string, parent: string): string[] {
    let index = this.children.get(type);
    if (!index) {
      index = new Map();
      for (const p of Object.keys(this.defs.types[type].elements)) {
        const dot = p.lastIndexOf('.');
        const parentPath = dot < 0 ? '' : p.slice(0, dot);
        const list = index.get(parentPath);
        if (list) list.push(p);
        else index.set(parentPath, [p]);
      }
      this.children.set(type, index);
    }
    return index.get(parent) ?? [];
  }
}

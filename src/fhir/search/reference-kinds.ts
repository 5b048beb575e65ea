import type { CompactDefinitions, ElementInfo, SearchParameterInfo } from '../definitions/definitions';
import { splitPath } from './expression';
import { partsFor } from './param-aliases';

/**
 * What the values of a reference parameter are, by the datatype of its elements (references.html):
 * `Reference` only (`Flag.subject`, `Provenance.target`), `canonical` only
 * (`QuestionnaireResponse.questionnaire`, `CarePlan.instantiatesCanonical`), or `both`: a mix
 * (`PlanDefinition.action.definition[x]`: canonical or uri), or a path not resolved.
 */
export type ReferenceKind = 'reference' | 'canonical' | 'both';

const BACKBONE = new Set(['BackboneElement', 'Element']);

/**
 * The kind of parameter `sp` on resource type `type`: the type codes of the elements its expression parts
 * for that type select (param-aliases.ts `partsFor`), resolved against the StructureDefinition snapshots
 * (inherited elements, datatypes' own elements, choice elements, `as`/`ofType`; `where(…)` keeps the type).
 */
export function referenceKind(defs: CompactDefinitions, type: string, sp: SearchParameterInfo): ReferenceKind {
  const codes = new Set<string>();
  for (const part of partsFor(sp, type)) {
    const types = elementTypes(defs, type, part);
    if (!types?.length) return 'both';
    types.forEach((t) => codes.add(t));
  }
  if (codes.size !== 1) return 'both';
  const [code] = codes;
  return code === 'Reference' ? 'reference' : code === 'canonical' ? 'canonical' : 'both';
}

/** The type codes of the elements a simple path (`Type.a.b`, `(Type.x as T)`, `Type.x.ofType(T)`) selects; undefined when not one. */
export function elementTypes(defs: CompactDefinitions, type: string, part: string): string[] | undefined {
  return elementAt(defs, type, part)?.types;
}

/** The element a simple path selects: its type codes (after `as`/`ofType`) and its definition. */
export function elementAt(defs: CompactDefinitions, type: string, part: string): { types: string[]; element?: ElementInfo } | undefined {
  let text = part.trim();
  const as = /^\((.+)\s+as\s+([A-Za-z]+)\)((?:\.[a-z][A-Za-z0-9]*)*)$/.exec(text);
  if (as) text = `${as[1].trim()}.as(${as[2]})${as[3]}`;
  const segments = splitPath(text);
  const root = segments.shift();
  if (root !== type && root !== 'Resource' && root !== 'DomainResource') return undefined;
  let owner = type; // the type whose elements hold `prefix`
  let prefix = '';
  let types: string[] | undefined; // of the element last navigated to
  let element: ElementInfo | undefined;
  for (const seg of segments) {
    const fn = /^(where|as|ofType)\((.*)\)$/.exec(seg);
    if (fn) {
      if (!types) return undefined;
      if (fn[1] !== 'where') types = types.filter((t) => t.toLowerCase() === fn[2].trim().toLowerCase());
      continue;
    }
    if (!/^[a-z][A-Za-z0-9]*$/.test(seg)) return undefined;
    if (types) {
      // step into the element last reached: a backbone element of the same type, or a datatype
      if (types.length !== 1) return undefined;
      if (!BACKBONE.has(types[0])) [owner, prefix] = [types[0], ''];
    }
    const elements = defs.types[owner]?.elements;
    const rel = prefix ? `${prefix}.${seg}` : seg;
    const el = elements?.[rel] ?? elements?.[`${rel}[x]`];
    if (!el) return undefined;
    element = el;
    if (el.contentReference) {
      prefix = el.contentReference;
      types = ['BackboneElement'];
    } else {
      prefix = rel;
      types = el.types;
    }
  }
  return types && { types, element };
}

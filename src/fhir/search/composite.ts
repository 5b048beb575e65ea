import { splitUnion } from './expression';
import { IndexKind, kindOf, SearchParameterInfo, SearchParameterRegistry } from './search-params';

/**
 * How composite parameters (search.html#composite) are indexed, shared by
 * the indexer and the SQL. For each element the composite's expression
 * selects (one "tuple"), the values of its token, uri and reference
 * components are folded into the param name, `code$<v1>$<v2>…` (every
 * combination when one has several values); the remaining components are
 * stored as ordinary rows of their kind under that name, so
 * `code-value-quantity=8480-6$gt100` is one index range. When all components
 * are tokens or references the last one is the row. When two or more
 * components are rows (MolecularSequence `chromosome-variant-coordinate`:
 * a token and two numbers) each is stored under `…#<component index>` and
 * the rows of one tuple share its ordinal in `text`, so every condition is
 * checked on the same element.
 */
export interface CompositeLayout {
  kinds: IndexKind[];
  /** component indexes folded into the param name */
  folded: number[];
  /** component indexes stored as rows */
  rows: number[];
}

export function compositeLayout(kinds: IndexKind[]): CompositeLayout {
  const foldable = (k: IndexKind) => k === 'token' || k === 'reference';
  const all = kinds.map((_, i) => i);
  const rows = all.filter((i) => !foldable(kinds[i]));
  if (rows.length) return { kinds, folded: all.filter((i) => foldable(kinds[i])), rows };
  return { kinds, folded: all.slice(0, -1), rows: [all.length - 1] };
}

/** The component definitions of a composite with its layout; undefined when a component is unknown or of no indexed kind. */
export function compositeOf(registry: SearchParameterRegistry, sp: SearchParameterInfo): { defs: SearchParameterInfo[]; layout: CompositeLayout } | undefined {
  if (!sp.component || sp.component.length < 2) return undefined;
  const defs = sp.component.map((c) => registry.byUrl(c.definition));
  if (defs.some((d) => !d)) return undefined;
  const kinds = defs.map((d) => kindOf(d!.type));
  if (kinds.some((k) => !k)) return undefined;
  return { defs: defs as SearchParameterInfo[], layout: compositeLayout(kinds as IndexKind[]) };
}

/** The param name of the rows of one folded key (and, with several row components, of component `row`). */
export function compositeParam(code: string, key: string[], layout: CompositeLayout, row: number): string {
  return code + compositeSuffix(key, layout, row);
}

export function compositeSuffix(key: string[], layout: CompositeLayout, row: number): string {
  return `${key.map((k) => `$${k}`).join('')}${layout.rows.length > 1 ? `#${row}` : ''}`;
}

/** Every combination of one value per folded component. */
export function foldedKeys(values: string[][]): string[][] {
  return values.reduce<string[][]>((keys, vs) => keys.flatMap((k) => vs.map((v) => [...k, v])), [[]]);
}

/**
 * A component's path relative to the composite's element. The definition's
 * own path under that element wins over the one given in the composite: the
 * R4 DocumentReference `relationship` lists `code` for its reference
 * component and `target` for its token one (swapped).
 */
export function componentExpression(base: string, given: string, def: SearchParameterInfo): string {
  const own = splitUnion(def.expression ?? '').filter((p) => p.startsWith(`${base}.`));
  if (own.length !== 1) return given;
  const rel = own[0].slice(base.length + 1);
  return /^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/.test(rel) ? rel : given;
}

import { splitUnion } from './expression';
import type { TokenValue } from './search-query';
import { IndexKind, kindOf, SearchParameterInfo, SearchParameterRegistry } from './search-params';

/**
 * How composite parameters (search.html#composite) are indexed, shared by
 * the indexer and the SQL. For each element the composite's expression
 * selects (one "tuple"), the values of its token, uri and reference
 * components are folded into the param name, `code$<v1>$<v2>…` (every
 * combination when one has several values; a token's as `code` and `system|code`,
 * see tokenKeys); the remaining components are
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

/** `|` and `\\` in a folded token's system or code are escaped (`a|b` the system a and code b, `a\\|b` the code `a|b`). */
const keyPart = (s: string) => s.replace(/[\\|]/g, (m) => `\\${m}`);

/**
 * The folded keys of a token component's values on one element, one per form a search value with a code
 * can take (search.html#token): `code` (any system) and `system|code` (`|code` with none). The system is
 * thus checked on the element that holds the code and the other components (search.html#composite: all on
 * the same element), not on another element of the resource. Values without a code give none (a token
 * component needs a code). Not `system|` (any code of the system): a third key per value would add a third
 * of the rows again to every coded composite (a vital-sign Observation's), for a form composites rarely
 * take; such a search value is refused (SearchParser).
 */
export function tokenKeys(entries: { system: string | null; value: string | null }[]): string[] {
  const keys = new Set<string>();
  for (const e of entries) {
    if (e.value === null) continue;
    keys.add(keyPart(e.value));
    keys.add(`${e.system === null ? '' : keyPart(e.system)}|${keyPart(e.value)}`);
  }
  return [...keys];
}

/** The folded key a token component's search value reads (see tokenKeys); a uri value is a code without a system. */
export function tokenKey(v: TokenValue | undefined, uri?: string): string {
  if (!v) return keyPart(uri ?? '');
  if (v.system === undefined) return keyPart(v.code ?? '');
  return `${v.system === null ? '' : keyPart(v.system)}|${v.code === undefined ? '' : keyPart(v.code)}`;
}

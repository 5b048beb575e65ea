import { splitUnion } from './expression';
import type { SearchParameterInfo } from './search-params';

/** Where a parameter's values are stored: index rows of `param`, optionally only those referring to `targetType`. */
export interface StoredParam {
  param: string;
  targetType?: string;
}

const norm = (s: string) => s.replace(/\s+/g, ' ').trim();

/** The expression parts that apply to a type, normalized. */
export function partsFor(sp: SearchParameterInfo, type: string): string[] {
  return splitUnion(sp.expression ?? '')
    .map(norm)
    .filter((p) => {
      const root = /^\(?\s*([A-Za-z]+)/.exec(p)?.[1];
      return root === type || root === 'Resource' || root === 'DomainResource';
    });
}

/**
 * Parameters whose values are exactly those of other parameters of the same
 * type are not stored twice: `Observation.combo-code` is `code` ∪
 * `component-code`, `Observation.patient` is `subject` where it refers to a
 * Patient, `combo-code-value-quantity` is `code-value-quantity` ∪
 * `component-code-value-quantity`. Such an alias is answered from the rows of
 * the parameters it unites (about a third fewer index rows on Synthea data).
 * Returns code → stored params for the aliases of one type.
 */
export function findAliases(type: string, params: SearchParameterInfo[]): Map<string, StoredParam[]> {
  const sorted = [...params].filter((sp) => sp.expression && sp.type !== 'special').sort((a, b) => a.code.localeCompare(b.code));
  const signature = (sp: SearchParameterInfo, part: string) =>
    sp.type === 'composite' ? `composite:${part}:${(sp.component ?? []).map((c) => norm(c.expression)).join('$')}` : `${sp.type}:${part}`;
  const sets = new Map<string, string[]>(); // code → signatures of its parts
  for (const sp of sorted) {
    const parts = partsFor(sp, type);
    if (parts.length) sets.set(sp.code, parts.map((p) => signature(sp, p)));
  }
  // decided smallest part sets first, so a union is only ever covered by parameters already known to be stored
  const aliases = new Map<string, StoredParam[]>();
  const bySize = [...sorted].sort((a, b) => (sets.get(a.code)?.length ?? 0) - (sets.get(b.code)?.length ?? 0) || a.code.localeCompare(b.code));
  for (const sp of bySize) {
    const mine = sets.get(sp.code);
    if (!mine) continue;
    const stored = cover(sp, mine, sets, aliases);
    if (stored) aliases.set(sp.code, stored);
  }
  return aliases;
}

/**
 * Covers a parameter's parts with the part sets of stored parameters
 * (largest first, disjoint), or with `X.where(resolve() is T)` over a stored
 * `X`; undefined when it must be stored itself.
 */
function cover(sp: SearchParameterInfo, mine: string[], sets: Map<string, string[]>, aliases: Map<string, StoredParam[]>): StoredParam[] | undefined {
  const candidates = [...sets.entries()]
    .filter(([code, parts]) => code !== sp.code && !aliases.has(code) && parts.every((p) => mine.includes(p)))
    .filter(([code, parts]) => parts.length < mine.length || code < sp.code)
    .filter(([code, parts]) => parts.length < mine.length || !aliases.has(code))
    .sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
  const remaining = new Set(mine);
  const stored: StoredParam[] = [];
  for (const [code, parts] of candidates) {
    if (!parts.every((p) => remaining.has(p))) continue;
    parts.forEach((p) => remaining.delete(p));
    stored.push({ param: code });
  }
  for (const p of [...remaining]) {
    const m = /^reference:(.+)\.where\(resolve\(\) is ([A-Za-z]+)\)$/.exec(p);
    const base = m ? [...sets.entries()].find(([code, parts]) => !aliases.has(code) && parts.length === 1 && parts[0] === `reference:${m[1]}`) : undefined;
    if (!base) return undefined;
    remaining.delete(p);
    stored.push({ param: base[0], targetType: m![2] });
  }
  return stored.length ? stored : undefined;
}

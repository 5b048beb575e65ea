import type { Queryable } from '../../database/database';
import type { ParamCriterion, ParamValue } from './search-query';
import type { SearchParameterRegistry } from './search-params';
import type { ValueSetExpansion } from './value-sets';

/**
 * search.html#token, the datatypes table: a `code` has its system "(implicit)", "the system is defined in the
 * value set" its element is bound to. Such elements are indexed without a system (tokenEntries); a value
 * naming a system is matched against them here, at search time, from their bindings in the R4
 * StructureDefinitions (SearchParameterRegistry.codeBindings) and the ValueSets these name, resolved as
 * `:in` resolves them (value-sets.ts): no index row changes, no reindex.
 */
export interface ImplicitSystem {
  /** the code systems of the bound ValueSets */
  systems: string[];
  /** their members as `system|code`, when every bound ValueSet could be expanded */
  members?: string[];
  /** every `code` element selected has a binding naming a system: its values have one (`|code` is not them) */
  complete: boolean;
}

/** The key of a stored parameter of a type in ParamValue.implicit. */
export const implicitKey = (type: string, param: string) => `${type}|${param}`;

/** Token modifiers whose `system|code` values compare systems (`:not` too: it negates the match). */
const SYSTEM_MODIFIERS = new Set([undefined, 'not', 'above', 'below']);

/**
 * Fills ParamValue.implicit of every token value with a system part (`system|code`, `system|`, `|code`)
 * among the parameter criteria (nested ones included: subsumption.ts paramCriteria) on parameters that select `code` elements: per stored parameter, what their
 * binding says of their system.
 */
export async function resolveImplicitSystems(criteria: ParamCriterion[], registry: SearchParameterRegistry, valueSets: ValueSetExpansion, q: Queryable): Promise<void> {
  const byUrl = new Map<string, Promise<{ systems: string[]; members?: string[] }>>();
  const resolve = (url: string) => byUrl.get(url) ?? byUrl.set(url, valueSets.systemsOf(url, q)).get(url)!;
  for (const c of criteria) {
    if (c.type !== 'token' || !SYSTEM_MODIFIERS.has(c.modifier) || !c.values.some((v) => v.token && v.token.system !== undefined)) continue;
    const implicit: Record<string, ImplicitSystem> = {};
    for (const type of c.defs.keys()) {
      for (const { param } of registry.storedAs(type, c.code)) {
        const bindings = registry.codeBindings(type, param);
        if (!bindings) continue;
        const bound = await Promise.all(bindings.map((url) => (url ? resolve(url) : undefined)));
        implicit[implicitKey(type, param)] = {
          systems: [...new Set(bound.flatMap((b) => b?.systems ?? []))],
          members: bound.every((b) => b?.members) ? bound.flatMap((b) => b!.members!) : undefined,
          complete: bound.every((b) => b?.systems.length),
        };
      }
    }
    if (Object.keys(implicit).length) for (const v of c.values) v.implicit = implicit;
  }
}

/**
 * The stored parameters whose `code` elements hold, under their implicit system `system`, one of `codes`
 * (all of the system's codes when undefined), grouped by the codes they hold: `codes` undefined when any
 * code of the system is one (its codes are not enumerable).
 */
export function implicitMatches<K extends { type: string; param: string }>(stored: K[], v: ParamValue, system: string, codes?: string[]): { stored: K[]; codes?: string[] }[] {
  const groups = new Map<string, { stored: K[]; codes?: string[] }>();
  for (const k of stored) {
    const imp = v.implicit?.[implicitKey(k.type, k.param)];
    if (!imp?.systems.includes(system)) continue;
    const members = imp.members && new Set(imp.members);
    const held = members ? (codes ?? imp.members!.map((m) => m.slice(m.lastIndexOf('|') + 1))).filter((c) => members.has(`${system}|${c}`)) : codes;
    if (held && !held.length) continue;
    const key = JSON.stringify(held ?? null);
    groups.set(key, { stored: [...(groups.get(key)?.stored ?? []), k], codes: held && [...new Set(held)] });
  }
  return [...groups.values()];
}

/** The stored parameters whose values may have no system (`|code`): all but those of `code` elements with an implicit one. */
export function withoutImplicitSystem<K extends { type: string; param: string }>(stored: K[], v: ParamValue): K[] {
  return stored.filter((k) => !v.implicit?.[implicitKey(k.type, k.param)]?.complete);
}

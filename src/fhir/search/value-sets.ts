import type { ValueSet, ValueSetComposeInclude } from 'fhir/r4';
import type { Queryable } from '../../database/database';
import { FhirError } from '../errors';
import { searchHash } from './normalize';
import type { SearchParameterRegistry } from './search-params';
import type { Hierarchy } from './subsumption';

/** Most `system|code` members one `:in`/`:not-in` ValueSet may have (each is a bound hash). */
export const MAX_VALUE_SET_MEMBERS = 10_000;

const notSupported = (url: string, why: string) => FhirError.of(400, 'not-supported', `ValueSet ${url} cannot be expanded by this server: ${why}`);

/**
 * Token `:in` / `:not-in` (search.html#token): the members of a ValueSet as `system|code`, a Coding
 * matching when both its system and code are those of a member. The ValueSet is a stored one with that
 * url (the most recently updated), else one of fhir-profiles/ or the core R4 terminology (`known`, the
 * validator's Terminology, which reads the core bundle once); it is expanded here from its `compose` (listed
 * concepts, a whole CodeSystem, `is-a` / `descendent-of` / `=` filters on `concept`, included ValueSets,
 * excludes) over the CodeSystems `:below` reads (subsumption.ts), else its stored `expansion`. Anything
 * else (an unknown url, other filters, a CodeSystem not known in full) is a 400: never a silent answer.
 */
export class ValueSetExpansion {
  constructor(
    private readonly registry: SearchParameterRegistry,
    private readonly hierarchy: (system: string, q: Queryable) => Promise<Hierarchy>,
    private readonly known: (url: string) => ValueSet | undefined,
  ) {}

  async members(url: string, q: Queryable, visiting = new Set<string>()): Promise<Set<string>> {
    const canonical = url.split('|')[0];
    if (visiting.has(canonical)) throw notSupported(url, 'it includes itself');
    visiting.add(canonical);
    // `url|version` (search.html#versions): that version of a stored ValueSet (its url is indexed with its version too)
    const vs = (await storedByUrl<ValueSet>(this.registry, 'ValueSet', url, q)) ?? this.known(canonical);
    if (!vs) throw FhirError.of(400, 'not-found', `ValueSet ${url} is not known to this server (no ValueSet with that url): :in/:not-in cannot be answered`);
    const out = await this.membersOf(vs, q, visiting);
    visiting.delete(canonical);
    return out;
  }

  /** The members (`system|code`) of a ValueSet resource, as `members` expands the one a url names. */
  async membersOf(vs: ValueSet, q: Queryable, visiting = new Set<string>()): Promise<Set<string>> {
    const url = vs.url ?? `ValueSet/${vs.id ?? ''}`;
    let out: Set<string>;
    if (vs.compose?.include?.length) {
      out = new Set();
      for (const inc of vs.compose.include) for (const m of await this.include(url, inc, q, visiting)) out.add(m);
      for (const exc of vs.compose.exclude ?? []) for (const m of await this.include(url, exc, q, visiting)) out.delete(m);
    } else if (vs.expansion?.contains?.length) {
      out = new Set(expansionCodings(vs).flatMap((c) => (c.code ? [`${c.system}|${c.code}`] : [])));
    } else throw notSupported(url, 'it has neither compose.include nor an expansion');
    if (out.size > MAX_VALUE_SET_MEMBERS) throw FhirError.of(400, 'too-costly', `ValueSet ${url} has more than ${MAX_VALUE_SET_MEMBERS} codes`);
    return out;
  }

  /**
   * The code systems a ValueSet draws on (search.html#token: a `code` element's system is implicit, "defined in
   * the value set" it is bound to), with its members when it can be expanded as `:in` expands it; else the
   * systems its `compose` names (or its `expansion` holds). An unknown ValueSet names none.
   */
  async systemsOf(url: string, q: Queryable): Promise<{ systems: string[]; members?: string[] }> {
    try {
      const members = [...(await this.members(url, q))];
      return { systems: [...new Set(members.map((m) => m.slice(0, m.lastIndexOf('|'))))], members };
    } catch (err) {
      if (!(err instanceof FhirError)) throw err;
    }
    return { systems: [...(await this.namedSystems(url, q, new Set()))] };
  }

  private async namedSystems(url: string, q: Queryable, visiting: Set<string>): Promise<Set<string>> {
    const out = new Set<string>();
    const canonical = url.split('|')[0];
    if (visiting.has(canonical)) return out;
    visiting.add(canonical);
    const vs = (await storedByUrl<ValueSet>(this.registry, 'ValueSet', url, q)) ?? this.known(canonical);
    for (const inc of vs?.compose?.include ?? []) {
      if (inc.system) out.add(inc.system);
      else for (const ref of inc.valueSet ?? []) for (const s of await this.namedSystems(ref, q, visiting)) out.add(s);
    }
    if (vs && !vs.compose?.include?.length) for (const c of expansionCodings(vs)) out.add(c.system);
    return out;
  }

  /** One include (or exclude): its codes of one system, intersected with the ValueSets it names. */
  private async include(url: string, inc: ValueSetComposeInclude, q: Queryable, visiting: Set<string>): Promise<Set<string>> {
    let out: Set<string> | undefined;
    if (inc.system) {
      const system = inc.system;
      let codes: string[];
      if (inc.concept?.length) codes = inc.concept.map((c) => c.code);
      else {
        const h = await this.hierarchy(system, q);
        codes = h.codes();
        for (const f of inc.filter ?? []) {
          if (f.property !== 'concept' || !['is-a', 'descendent-of', '='].includes(f.op)) throw notSupported(url, `filter ${f.property} ${f.op} is not supported`);
          if (!h.has(f.value)) throw notSupported(url, `code "${f.value}" is not defined in CodeSystem ${system}`);
          const keep = new Set(f.op === '=' ? [f.value] : h.closure(f.value, 'below').filter((c) => f.op === 'is-a' || c !== f.value));
          codes = codes.filter((c) => keep.has(c));
        }
      }
      out = new Set(codes.map((c) => `${system}|${c}`));
    }
    for (const ref of inc.valueSet ?? []) {
      const nested = await this.members(ref, q, visiting);
      out = out ? new Set([...out].filter((m) => nested.has(m))) : nested;
    }
    if (!out) throw notSupported(url, 'an include without a system or a valueSet');
    return out;
  }

}

/**
 * The most recently updated stored ValueSet or CodeSystem whose `url` is `url` (or whose `url|version`
 * is, search.html#versions: the url is indexed with its version too); undefined when none is stored.
 */
export async function storedByUrl<T>(registry: SearchParameterRegistry, type: 'ValueSet' | 'CodeSystem', url: string, q: Queryable): Promise<T | undefined> {
  const hashes = registry.storedAs(type, 'url').map((k) => searchHash(`${type}|${k.param}|${url}`));
  const r = await q.query<{ content: string }>(
    `SELECT r.content FROM resource r
      WHERE r.resource_type = $2 AND NOT r.deleted
        AND r.id IN (SELECT x.resource_id FROM search_index x WHERE x.hash = ANY($1::bigint[]))
      ORDER BY r.last_updated DESC LIMIT 1`,
    [hashes, type],
  );
  return r.rows.length ? (JSON.parse(r.rows[0].content) as T) : undefined;
}

/** The codings of a ValueSet's stored `expansion` (nested ones included) that name a system. */
function expansionCodings(vs: ValueSet): { system: string; code?: string }[] {
  const out: { system: string; code?: string }[] = [];
  const walk = (list: NonNullable<ValueSet['expansion']>['contains']) => {
    for (const c of list ?? []) {
      if (c.system) out.push({ system: c.system, code: c.code });
      walk(c.contains);
    }
  };
  walk(vs.expansion?.contains);
  return out;
}

import type { CodeSystem, CodeSystemConcept, ValueSet } from 'fhir/r4';
import type { Queryable } from '../../database/database';
import { badRequest, FhirError } from '../errors';
import { searchHash } from './normalize';
import type { Criterion, ParamCriterion, ParamValue } from './search-query';
import type { SearchParameterRegistry } from './search-params';
import { resolveImplicitSystems } from './code-systems';
import { ValueSetExpansion } from './value-sets';

/** Most codes one `:above`/`:below` value may stand for (each is an index probe). */
export const MAX_SUBSUMED_CODES = 10_000;
const CACHE_SIZE = 200;

/** The is-a relations of a CodeSystem: concept nesting and the `parent`/`child` concept properties. */
export class Hierarchy {
  private readonly parents = new Map<string, Set<string>>();
  private readonly children = new Map<string, Set<string>>();

  constructor(cs: CodeSystem) {
    const names = (kind: 'parent' | 'child') =>
      new Set([kind, ...(cs.property ?? []).filter((p) => p.uri === `http://hl7.org/fhir/concept-properties#${kind}`).map((p) => p.code)]);
    const parentProps = names('parent');
    const childProps = names('child');
    const walk = (concepts: CodeSystemConcept[] | undefined, parent?: string) => {
      for (const c of concepts ?? []) {
        if (typeof c.code !== 'string') continue;
        this.node(c.code);
        if (parent) this.link(parent, c.code);
        for (const p of c.property ?? []) {
          if (typeof p.valueCode !== 'string') continue;
          if (parentProps.has(p.code)) this.link(p.valueCode, c.code);
          if (childProps.has(p.code)) this.link(c.code, p.valueCode);
        }
        walk(c.concept, c.code);
      }
    };
    walk(cs.concept);
  }

  has(code: string): boolean {
    return this.parents.has(code);
  }

  /** Every code of the CodeSystem. */
  codes(): string[] {
    return [...this.parents.keys()];
  }

  /** The code and every code it subsumes (`:below`), or every code that subsumes it (`:above`). */
  closure(code: string, direction: 'above' | 'below'): string[] {
    const next = direction === 'below' ? this.children : this.parents;
    const seen = new Set([code]);
    const queue = [code];
    while (queue.length) {
      for (const n of next.get(queue.shift()!) ?? []) {
        if (seen.has(n)) continue;
        seen.add(n);
        queue.push(n);
      }
    }
    return [...seen];
  }

  private node(code: string): void {
    if (!this.parents.has(code)) this.parents.set(code, new Set());
    if (!this.children.has(code)) this.children.set(code, new Set());
  }

  private link(parent: string, child: string): void {
    this.node(parent);
    this.node(child);
    this.children.get(parent)!.add(child);
    this.parents.get(child)!.add(parent);
  }
}

/** Why a CodeSystem's hierarchy cannot answer subsumption; undefined when it can. */
function unknownHierarchy(cs: CodeSystem): string | undefined {
  if (cs.content !== 'complete') return `its content is "${cs.content}", not complete`;
  // nesting without a stated meaning is read as is-a (as the core CodeSystems use it)
  if (cs.hierarchyMeaning && cs.hierarchyMeaning !== 'is-a') return `its hierarchy means "${cs.hierarchyMeaning}", not is-a`;
  return undefined;
}

/**
 * Token `:above` / `:below` (search.html#token): the codes a `system|code`
 * value subsumes or is subsumed by, from the is-a hierarchy of a CodeSystem
 * the server knows: a stored CodeSystem resource with that url (the most
 * recently updated), else one in fhir-profiles/ or the core R4 ones. The
 * codes are resolved before the SQL is built (ParamValue.codes), then matched
 * like `:in` matches a ValueSet's codes. A system whose hierarchy is not
 * known is a 400.
 */
export class Subsumption {
  private readonly cache = new Map<string, Hierarchy>();
  /** `:in` expansion over the same hierarchies (the terminology operations expand with it too) */
  readonly valueSets: ValueSetExpansion;

  constructor(
    private readonly db: Queryable,
    private readonly registry: SearchParameterRegistry,
    /** CodeSystems of fhir-profiles/ and the core ones */
    private readonly known: (url: string) => CodeSystem | undefined,
    /** ValueSets of fhir-profiles/ and the core ones (`:in` of a ValueSet that is not stored) */
    knownValueSet: (url: string) => ValueSet | undefined = () => undefined,
  ) {
    this.valueSets = new ValueSetExpansion(registry, (system, q) => this.hierarchy(system, q), knownValueSet);
  }

  /**
   * Fills `codes` of every token `:above`/`:below` value among the criteria (chains and `_has` included),
   * `codes` and `members` (`system|code`) of every `:in`/`:not-in` value (value-sets.ts), and the implicit
   * systems of the `code` elements a token value with a system is matched against (code-systems.ts).
   */
  async resolve(criteria: Criterion[], q: Queryable = this.db): Promise<void> {
    for (const { value, modifier } of terminologyValues(criteria)) {
      if (modifier !== 'in' && modifier !== 'not-in') continue;
      const members = [...(await this.valueSets.members(value.string!, q))];
      value.members = members;
      value.codes = [...new Set(members.map((m) => m.slice(m.lastIndexOf('|') + 1)))];
    }
    const values = subsumptionValues(criteria);
    for (const { value, direction } of values) {
      const { system, code } = value.token!;
      const hierarchy = await this.hierarchy(system!, q);
      if (!hierarchy.has(code!)) throw badRequest(`code "${code}" is not defined in CodeSystem ${system}`);
      const codes = hierarchy.closure(code!, direction);
      if (codes.length > MAX_SUBSUMED_CODES) throw FhirError.of(400, 'too-costly', `:${direction} ${system}|${code} stands for more than ${MAX_SUBSUMED_CODES} codes`);
      value.codes = codes;
    }
    await resolveImplicitSystems(paramCriteria(criteria), this.registry, this.valueSets, q);
  }

  async hierarchy(system: string, q: Queryable): Promise<Hierarchy> {
    // CodeSystem.url is indexed once for `url` and its alias `system` (param-aliases.ts)
    const hashes = this.registry.storedAs('CodeSystem', 'url').map((k) => searchHash(`CodeSystem|${k.param}|${system}`));
    const stored = await q.query<{ id: string; version_id: number }>(
      `SELECT r.id, r.version_id FROM resource r
        WHERE r.resource_type = 'CodeSystem' AND NOT r.deleted
          AND r.id IN (SELECT x.resource_id FROM search_index x WHERE x.hash = ANY($1::bigint[]))
        ORDER BY r.last_updated DESC LIMIT 1`,
      [hashes],
    );
    const key = stored.rows.length ? `CodeSystem/${stored.rows[0].id}/${stored.rows[0].version_id}` : `known|${system}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const cs = stored.rows.length
      ? (JSON.parse((await q.query<{ content: string }>(`SELECT content FROM resource WHERE resource_type = 'CodeSystem' AND id = $1`, [stored.rows[0].id])).rows[0].content) as CodeSystem)
      : this.known(system);
    if (!cs) throw FhirError.of(400, 'not-supported', `the hierarchy of ${system} is not known to this server (no CodeSystem with that url): :above/:below/:in cannot be answered`);
    const why = unknownHierarchy(cs);
    if (why) throw FhirError.of(400, 'not-supported', `the hierarchy of ${system} is not known: ${why}`);
    const h = new Hierarchy(cs);
    if (this.cache.size >= CACHE_SIZE) this.cache.clear();
    this.cache.set(key, h);
    return h;
  }
}

const TERMINOLOGY = new Set(['above', 'below', 'in', 'not-in']);

/** The parameter criteria among criteria, nested ones included (chains, `_has`, `:not` of `_filter`, alternatives). */
export function paramCriteria(criteria: Criterion[]): ParamCriterion[] {
  const out: ParamCriterion[] = [];
  const walk = (c: Criterion) => {
    if (c.kind === 'chain' || c.kind === 'has' || c.kind === 'not') walk(c.inner);
    else if (c.kind === 'any') c.alternatives.forEach((alt) => alt.forEach(walk));
    else if (c.kind === 'param') out.push(c);
  };
  criteria.forEach(walk);
  return out;
}

/** The token values among criteria (nested ones included) that need terminology read before the SQL. */
export function terminologyValues(criteria: Criterion[]): { value: ParamValue; modifier: string }[] {
  return paramCriteria(criteria)
    .filter((c) => c.type === 'token' && c.modifier && TERMINOLOGY.has(c.modifier))
    .flatMap((c) => c.values.map((value) => ({ value, modifier: c.modifier! })));
}

/** The token `:above`/`:below` values among criteria, nested ones included. */
export function subsumptionValues(criteria: Criterion[]): { value: ParamValue; direction: 'above' | 'below' }[] {
  return terminologyValues(criteria).flatMap(({ value, modifier }) => (modifier === 'above' || modifier === 'below' ? [{ value, direction: modifier }] : []));
}

import type { CompactDefinitions, SearchParameterInfo } from '../definitions/definitions';
import { findAliases, partsFor, StoredParam } from './param-aliases';
import { NEAR_URL } from './position';
import { elementAt, referenceKind, ReferenceKind } from './reference-kinds';
import { READ_ONLY_TYPES } from '../rest/allowed-methods';
import { badRequest } from '../errors';

export type { SearchParameterInfo, StoredParam };

/** Parameters answered from the `resource` table itself, not from index rows. */
export const RESOURCE_COLUMN_PARAMS = new Set(['_id', '_lastUpdated']);

/** Parameters the server does not support (reported as such, 400 unless lenient). */
export const UNSUPPORTED_PARAMS = new Set(['_query']);

/** A CompartmentDefinition's `param` for the focal resource itself (compartmentdefinition.html). */
const COMPARTMENT_ITSELF = '{def}';

/**
 * Types served from a store of their own (AuditEvent: the audit trail, src/audit), which search does
 * not read: a search naming one as a type to search, include, chain to or reverse-chain from is 400
 * (also when lenient: the parameter is known, the server cannot answer it), never an empty answer.
 */
export function assertSearchable(type: string, where: string): void {
  if (READ_ONLY_TYPES.has(type)) {
    throw badRequest(`${where}: ${type} is kept in the audit trail, which search does not join; search it with GET /fhir/${type}`);
  }
}

/** The index table kind each search parameter type is stored in. */
export type IndexKind = 'token' | 'string' | 'reference' | 'date' | 'number' | 'position';

/**
 * The kind of a parameter of `type`. A `special` parameter has its own semantics in the spec's
 * prose, so only the one the server implements has a kind (`url`: its definition's).
 */
export function kindOf(type: string, url?: string): IndexKind | undefined {
  switch (type) {
    case 'special':
      return url === NEAR_URL ? 'position' : undefined;
    case 'token':
    case 'uri':
      return 'token';
    case 'string':
      return 'string';
    case 'reference':
      return 'reference';
    case 'date':
      return 'date';
    case 'number':
    case 'quantity':
      return 'number';
    default:
      return undefined;
  }
}

/**
 * The search parameters of every resource type: the official R4 ones from the
 * definitions plus custom SearchParameter resources (which replace an official
 * one of the same code and base). The custom set comes from the database and
 * `fhir-profiles/` (see custom-params.ts) and changes only through a reindex.
 */
export class SearchParameterRegistry {
  private custom: SearchParameterInfo[] = [];
  private readonly perType = new Map<string, Map<string, SearchParameterInfo>>();
  private readonly aliasesPerType = new Map<string, Map<string, StoredParam[]>>();
  private readonly kinds = new Map<string, ReferenceKind>();
  private readonly codeParams = new Map<string, (string | undefined)[] | undefined>();
  private urlIndex = new Map<string, SearchParameterInfo>();
  private listeners: (() => void)[] = [];
  /** bumped whenever the custom set changes (compiled plans are rebuilt) */
  generation = 0;

  constructor(readonly definitions: CompactDefinitions) {
    this.rebuildUrlIndex();
  }

  get resourceTypes(): string[] {
    return this.definitions.resourceTypes;
  }

  isResourceType(type: string): boolean {
    return this.definitions.types[type]?.kind === 'resource' && this.definitions.resourceTypes.includes(type);
  }

  /** Replaces the custom parameters; returns true when anything changed. */
  setCustom(params: SearchParameterInfo[]): boolean {
    const key = (list: SearchParameterInfo[]) => JSON.stringify(list.map((p) => [p.url, p.code, p.base, p.type, p.expression, p.target, p.component]));
    if (key(params) === key(this.custom)) return false;
    this.custom = params;
    this.perType.clear();
    this.aliasesPerType.clear();
    this.kinds.clear();
    this.codeParams.clear();
    this.rebuildUrlIndex();
    this.generation++;
    for (const l of this.listeners) l();
    return true;
  }

  customParameters(): readonly SearchParameterInfo[] {
    return this.custom;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** code → parameter, for one resource type. */
  paramsOf(resourceType: string): Map<string, SearchParameterInfo> {
    let map = this.perType.get(resourceType);
    if (!map) {
      map = new Map();
      const applies = (sp: SearchParameterInfo) =>
        sp.base.includes(resourceType) || sp.base.includes('Resource') || (sp.base.includes('DomainResource') && resourceType !== 'Bundle' && resourceType !== 'Binary' && resourceType !== 'Parameters');
      for (const sp of this.definitions.searchParameters) if (applies(sp)) map.set(sp.code, sp);
      for (const sp of this.custom) if (applies(sp)) map.set(sp.code, sp);
      this.perType.set(resourceType, map);
    }
    return map;
  }

  param(resourceType: string, code: string): SearchParameterInfo | undefined {
    return this.paramsOf(resourceType).get(code);
  }

  /**
   * The index rows that hold a parameter's values: its own, or for an alias
   * (see param-aliases.ts) those of the parameters it unites.
   */
  storedAs(resourceType: string, code: string): StoredParam[] {
    return this.aliasesOf(resourceType).get(code) ?? [{ param: code }];
  }

  isAlias(resourceType: string, code: string): boolean {
    return this.aliasesOf(resourceType).has(code);
  }

  private aliasesOf(resourceType: string): Map<string, StoredParam[]> {
    let a = this.aliasesPerType.get(resourceType);
    if (!a) {
      a = findAliases(resourceType, [...this.paramsOf(resourceType).values()]);
      this.aliasesPerType.set(resourceType, a);
    }
    return a;
  }

  /**
   * Whether reference parameter `code` of `resourceType` holds `Reference`s, `canonical`s or both
   * (reference-kinds.ts), from the StructureDefinitions once per parameter and type; undefined when
   * the type has no such parameter.
   */
  referenceKind(resourceType: string, code: string): ReferenceKind | undefined {
    const sp = this.param(resourceType, code);
    if (sp?.type !== 'reference') return undefined;
    const key = `${resourceType}.${code}`;
    let kind = this.kinds.get(key);
    if (!kind) {
      kind = referenceKind(this.definitions, resourceType, sp);
      this.kinds.set(key, kind);
    }
    return kind;
  }

  /**
   * Whether token parameter `code` of `resourceType` selects `code` elements (from the StructureDefinitions,
   * once per parameter and type): their system is implicit, the binding's (search.html#token), so they are
   * indexed without one and `:in` / `:not-in` take them by their code.
   */
  holdsCodes(resourceType: string, code: string): boolean {
    return this.codeBindings(resourceType, code) !== undefined;
  }

  /**
   * The bindings of the `code` elements token parameter `code` of `resourceType` selects, one per element:
   * the ValueSet url of its required binding, undefined when it has none (the only bindings the compact
   * definitions keep); undefined when it selects no `code` element. Their systems are the implicit
   * systems of the parameter's values (code-systems.ts).
   */
  codeBindings(resourceType: string, code: string): (string | undefined)[] | undefined {
    const sp = this.param(resourceType, code);
    if (sp?.type !== 'token') return undefined;
    const key = `${resourceType}.${code}`;
    if (!this.codeParams.has(key)) {
      const codes = partsFor(sp, resourceType)
        .map((part) => elementAt(this.definitions, resourceType, part))
        .filter((el) => el?.types.includes('code'));
      this.codeParams.set(key, codes.length ? codes.map((el) => el!.element?.requiredValueSet) : undefined);
    }
    return this.codeParams.get(key);
  }

  byUrl(url: string): SearchParameterInfo | undefined {
    return this.urlIndex.get(url);
  }

  /** Types a reference parameter may point to (its `target`, else every type). */
  targetsOf(sp: SearchParameterInfo): string[] {
    const t = (sp.target ?? []).filter((x) => this.definitions.resourceTypes.includes(x));
    return t.length ? t : sp.target?.includes('Resource') || !sp.target?.length ? this.definitions.resourceTypes : t;
  }

  /** A chain's next hop: the types the reference parameters `defs` may point to that have a parameter `next` (every one for `_…`). */
  chainTargets(defs: SearchParameterInfo[], next: string): string[] {
    return [...new Set(defs.flatMap((d) => this.targetsOf(d)))].filter((t) => next.startsWith('_') || this.param(t, next) !== undefined);
  }

  /** The parameters linking a resource of this type to the compartment's focal resource (compartmentdefinition.html). */
  compartmentParams(resourceType: string, compartment = 'Patient'): string[] {
    return (this.definitions.compartments[compartment]?.[resourceType] ?? []).filter((code) => code !== COMPARTMENT_ITSELF);
  }

  /** The resource types of a compartment (those with parameters, and the focal type itself when `{def}`); empty when not a compartment. */
  compartmentMembers(compartment: string): string[] {
    return Object.keys(this.definitions.compartments[compartment] ?? {});
  }

  /**
   * Whether the focal resource is in its own compartment: `{def}` in its CompartmentDefinition (Encounter,
   * Practitioner, RelatedPerson); the Patient compartment always holds the Patient itself (its definition
   * lists `link` for Patient, the other Patients linked to it, and the Patient is the compartment's subject).
   */
  compartmentHoldsItself(compartment: string): boolean {
    return compartment === 'Patient' || (this.definitions.compartments[compartment]?.[compartment] ?? []).includes(COMPARTMENT_ITSELF);
  }

  private rebuildUrlIndex(): void {
    this.urlIndex = new Map(this.definitions.searchParameters.map((p) => [p.url, p]));
    for (const p of this.custom) this.urlIndex.set(p.url, p);
  }
}

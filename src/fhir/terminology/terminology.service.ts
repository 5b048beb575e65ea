import { Injectable, Optional } from '@nestjs/common';
import type { CodeSystem, Coding, ValueSet, ValueSetExpansionContains } from 'fhir/r4';
import { Database } from '../../database/database';
import { badRequest, FhirError } from '../errors';
import { SearchParameterRegistry } from '../search/search-params';
import { Subsumption } from '../search/subsumption';
import { SearchService } from '../search/search.service';
import { storedByUrl, ValueSetExpansion } from '../search/value-sets';
import { ResourceValidator } from '../validation/resource-validator';
import { conceptIndex, IndexedConcept, matchesFilter } from './concepts';

/** What `$validate-code` answers (ValueSet-validate-code, CodeSystem-validate-code). */
export interface CodeValidation {
  result: boolean;
  message?: string;
  display?: string;
}

export type Subsumes = 'equivalent' | 'subsumes' | 'subsumed-by' | 'not-subsumed';

const notFoundIn = (what: string) => FhirError.of(404, 'not-found', what);

/**
 * The terminology this server knows, for the terminology operations: stored CodeSystem and
 * ValueSet resources (the most recently updated with a url), else those of fhir-profiles/ and the
 * core R4 ones. ValueSets are expanded as search's `:in` expands them (value-sets.ts: listed
 * concepts, whole CodeSystems, `is-a`/`descendent-of`/`=` filters, included ValueSets, excludes,
 * or a stored expansion); what cannot be expanded that way is a 400, never a partial answer.
 */
@Injectable()
export class TerminologyService {
  private readonly subsumption: Subsumption;
  private readonly expansion: ValueSetExpansion;
  private readonly indexes = new WeakMap<CodeSystem, Map<string, IndexedConcept>>();

  constructor(
    private readonly db: Database,
    private readonly registry: SearchParameterRegistry,
    search: SearchService,
    @Optional() private readonly validator?: ResourceValidator,
  ) {
    // search's: one cache of hierarchies and one way to expand a ValueSet for `:in` and `$expand` alike
    this.subsumption = search.subsumption;
    this.expansion = search.subsumption.valueSets;
  }

  async codeSystem(url: string): Promise<CodeSystem | undefined> {
    return (await storedByUrl<CodeSystem>(this.registry, 'CodeSystem', url, this.db)) ?? this.validator?.profiles.terminology.findCodeSystem(url);
  }

  async valueSet(url: string): Promise<ValueSet | undefined> {
    return (await storedByUrl<ValueSet>(this.registry, 'ValueSet', url, this.db)) ?? this.validator?.profiles.terminology.findValueSet(url);
  }

  /** The codes of a ValueSet with their displays, in the order its definition gives them, `filter` applied. */
  async expand(vs: ValueSet, filter?: string): Promise<ValueSetExpansionContains[]> {
    const members = [...(await this.expansion.membersOf(vs, this.db))];
    const displays = await this.displays(vs, members);
    const out: ValueSetExpansionContains[] = [];
    for (const m of members) {
      const bar = m.lastIndexOf('|');
      const system = m.slice(0, bar);
      const code = m.slice(bar + 1);
      const display = displays.get(m);
      if (matchesFilter(filter, code, display)) out.push(display === undefined ? { system, code } : { system, code, display });
    }
    return out;
  }

  /** A concept of a code system (`$lookup`): 404 when the system or the code is not known. */
  async lookup(system: string, code: string): Promise<{ cs: CodeSystem; concept: IndexedConcept }> {
    const cs = await this.codeSystem(system);
    if (!cs) throw notFoundIn(`CodeSystem ${system} is not known to this server`);
    const concept = this.index(cs).get(code);
    if (!concept) throw notFoundIn(`code "${code}" is not defined in CodeSystem ${system}`);
    return { cs, concept };
  }

  /** Whether one of the codings is a member of the ValueSet (and its display, when given, the member's). */
  async validateInValueSet(vs: ValueSet, codings: Coding[]): Promise<CodeValidation> {
    const members = await this.expansion.membersOf(vs, this.db);
    const found = codings.find((c) => members.has(`${c.system}|${c.code}`));
    const name = vs.url ?? `ValueSet/${vs.id}`;
    if (!found) return { result: false, message: `${codings.map(text).join(', ')} is not in the value set ${name}` };
    const display = (await this.displays(vs, [`${found.system}|${found.code}`])).get(`${found.system}|${found.code}`);
    return checkDisplay(found, display);
  }

  /** Whether the code is defined in the CodeSystem (and its display, when given, the concept's). */
  validateInCodeSystem(cs: CodeSystem, coding: Coding): CodeValidation {
    if (coding.system !== undefined && coding.system !== cs.url) {
      return { result: false, message: `${text(coding)} is not a code of CodeSystem ${cs.url}` };
    }
    const concept = this.index(cs).get(coding.code!);
    if (!concept) return { result: false, message: `code "${coding.code}" is not defined in CodeSystem ${cs.url}` };
    return checkDisplay(coding, concept.display);
  }

  /** CodeSystem-subsumes: how code A relates to code B in the system's is-a hierarchy. */
  async subsumes(system: string, a: string, b: string): Promise<Subsumes> {
    const h = await this.subsumption.hierarchy(system, this.db);
    for (const code of [a, b]) if (!h.has(code)) throw badRequest(`code "${code}" is not defined in CodeSystem ${system}`);
    if (a === b) return 'equivalent';
    if (h.closure(a, 'below').includes(b)) return 'subsumes';
    if (h.closure(b, 'below').includes(a)) return 'subsumed-by';
    return 'not-subsumed';
  }

  index(cs: CodeSystem): Map<string, IndexedConcept> {
    let index = this.indexes.get(cs);
    if (!index) this.indexes.set(cs, (index = conceptIndex(cs)));
    return index;
  }

  /**
   * Displays of members (`system|code`): the ValueSet's own (listed concepts, a stored expansion, and
   * those of the ValueSets it includes), else the code system's concept display.
   */
  private async displays(vs: ValueSet, members: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    await this.ownDisplays(vs, out, new Set());
    const systems = new Set(members.filter((m) => !out.has(m)).map((m) => m.slice(0, m.lastIndexOf('|'))));
    for (const system of systems) {
      const cs = await this.codeSystem(system);
      if (!cs) continue;
      for (const [code, c] of this.index(cs)) if (c.display && !out.has(`${system}|${code}`)) out.set(`${system}|${code}`, c.display);
    }
    return out;
  }

  private async ownDisplays(vs: ValueSet, out: Map<string, string>, visiting: Set<string>): Promise<void> {
    const set = (system: string | undefined, code: string | undefined, display: string | undefined) => {
      if (code && display && !out.has(`${system}|${code}`)) out.set(`${system}|${code}`, display);
    };
    for (const inc of vs.compose?.include ?? []) for (const c of inc.concept ?? []) set(inc.system, c.code, c.display);
    const walk = (list: ValueSetExpansionContains[] | undefined) => {
      for (const c of list ?? []) {
        set(c.system, c.code, c.display);
        walk(c.contains);
      }
    };
    walk(vs.expansion?.contains);
    for (const ref of (vs.compose?.include ?? []).flatMap((inc) => inc.valueSet ?? [])) {
      if (visiting.has(ref)) continue;
      visiting.add(ref);
      const nested = await this.valueSet(ref);
      if (nested) await this.ownDisplays(nested, out, visiting);
    }
  }
}

const text = (c: Coding) => (c.system ? `${c.system}|${c.code}` : `"${c.code}"`);

/** A display given with the code must be the code's (compared without case, which code systems mostly ignore). */
function checkDisplay(given: Coding, display: string | undefined): CodeValidation {
  if (given.display !== undefined && display !== undefined && given.display.toLowerCase() !== display.toLowerCase()) {
    return { result: false, message: `the display "${given.display}" is not the display of ${text(given)}: "${display}"`, display };
  }
  return display === undefined ? { result: true } : { result: true, display };
}

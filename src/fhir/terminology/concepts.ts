import type { CodeSystem, CodeSystemConcept, CodeSystemConceptDesignation, CodeSystemConceptProperty } from 'fhir/r4';

/** A concept of a CodeSystem with where it sits in the concept tree. */
export interface IndexedConcept {
  code: string;
  display?: string;
  definition?: string;
  designation?: CodeSystemConceptDesignation[];
  property?: CodeSystemConceptProperty[];
  /** the code of the concept it is nested in */
  parent?: string;
  /** the codes nested in it */
  children: string[];
}

/** The concepts of a CodeSystem by code (nested ones included): what `$lookup` and displays read. */
export function conceptIndex(cs: CodeSystem): Map<string, IndexedConcept> {
  const out = new Map<string, IndexedConcept>();
  const walk = (concepts: CodeSystemConcept[] | undefined, parent?: string) => {
    for (const c of concepts ?? []) {
      if (typeof c.code !== 'string' || out.has(c.code)) continue;
      out.set(c.code, {
        code: c.code,
        display: c.display,
        definition: c.definition,
        designation: c.designation,
        property: c.property,
        parent,
        children: (c.concept ?? []).map((x) => x.code).filter((x): x is string => typeof x === 'string'),
      });
      walk(c.concept, c.code);
    }
  };
  walk(cs.concept);
  return out;
}

/** Case-insensitive match of an expansion `filter` (ValueSet-expand: "a text filter") on a code or its display. */
export function matchesFilter(filter: string | undefined, code: string, display: string | undefined): boolean {
  if (!filter) return true;
  const f = filter.toLowerCase();
  return code.toLowerCase().includes(f) || (display ?? '').toLowerCase().includes(f);
}

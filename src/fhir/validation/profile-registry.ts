import * as fs from 'fs';
import * as path from 'path';
import type { StructureDefinition } from 'fhir/r4';
import type { CompactDefinitions } from '../definitions/definitions';
import { compileProfile, CompiledProfile } from './profile-compiler';
import { referencedType } from './structure-validator';
import { canonicalUrl, coreTerminologyFile, Terminology } from './terminology';

const CORE_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';

/** What loading a profiles folder found (logged at start). */
export interface ProfileLoadReport {
  dir: string;
  profiles: number;
  valueSets: number;
  codeSystems: number;
  /** file: why it was skipped */
  skipped: Record<string, string>;
}

/**
 * The StructureDefinitions (with snapshots), ValueSets and CodeSystems
 * dropped into fhir-profiles/ (FHIR_PROFILES_DIR), compiled at start.
 * Profiles are looked up by canonical URL (a `|version` suffix is ignored).
 */
export class ProfileRegistry {
  readonly terminology: Terminology;
  private readonly definitions = new Map<string, StructureDefinition>();
  private readonly compiled = new Map<string, CompiledProfile | null>();
  private readonly resourceTypes: Set<string>;

  constructor(private readonly defs: CompactDefinitions) {
    this.terminology = new Terminology(defs.valueSets, coreTerminologyFile());
    this.resourceTypes = new Set(defs.resourceTypes);
  }

  /** Loads every *.json file under `dir` (recursively); a missing folder is an empty registry. */
  loadDirectory(dir: string): ProfileLoadReport {
    const report: ProfileLoadReport = { dir, profiles: 0, valueSets: 0, codeSystems: 0, skipped: {} };
    if (!fs.existsSync(dir)) return report;
    const files: string[] = [];
    const walk = (d: string) => {
      for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, entry.name);
        if (entry.isDirectory()) walk(p);
        else if (entry.name.endsWith('.json')) files.push(p);
      }
    };
    walk(dir);
    for (const file of files.sort()) {
      try {
        this.add(JSON.parse(fs.readFileSync(file, 'utf8')), report);
      } catch (err) {
        report.skipped[path.relative(dir, file)] = `not JSON: ${(err as Error).message}`;
      }
    }
    // compile now: a broken profile shows at start, not on the first write
    for (const url of this.definitions.keys()) {
      if (!this.get(url)) report.skipped[url] = 'StructureDefinition without a usable snapshot';
    }
    return report;
  }

  /** Adds a StructureDefinition, ValueSet, CodeSystem, or a Bundle of them. */
  add(resource: any, report?: ProfileLoadReport): void {
    switch (resource?.resourceType) {
      case 'StructureDefinition':
        if (resource.url && resource.snapshot?.element?.length) {
          this.definitions.set(canonicalUrl(resource.url), resource);
          this.compiled.delete(canonicalUrl(resource.url));
          if (report) report.profiles++;
        }
        break;
      case 'ValueSet':
        this.terminology.addValueSet(resource);
        if (report) report.valueSets++;
        break;
      case 'CodeSystem':
        this.terminology.addCodeSystem(resource);
        if (report) report.codeSystems++;
        break;
      case 'Bundle':
        for (const e of resource.entry ?? []) this.add(e.resource, report);
        break;
      default:
    }
  }

  /** The compiled profile with this canonical URL, if loaded. */
  get(url: string): CompiledProfile | undefined {
    const key = canonicalUrl(url);
    if (!this.compiled.has(key)) {
      const sd = this.definitions.get(key);
      this.compiled.set(
        key,
        sd
          ? (compileProfile(sd, {
              expandValueSet: (vs) => this.terminology.expand(vs),
              targetType: (p) => this.targetType(p),
            }) ?? null)
          : null,
      );
    }
    return this.compiled.get(key) ?? undefined;
  }

  /** Canonical URLs of the loaded resource profiles. */
  resourceProfiles(): string[] {
    return [...this.definitions.values()].filter((sd) => sd.kind === 'resource').map((sd) => sd.url!);
  }

  get size(): number {
    return this.definitions.size;
  }

  /** The resource type a (target) profile URL constrains. */
  targetType(profileUrl: string): string | undefined {
    const url = canonicalUrl(profileUrl);
    const sd = this.definitions.get(url);
    if (sd) return sd.type;
    if (url.startsWith(CORE_PREFIX)) {
      const name = url.slice(CORE_PREFIX.length);
      if (name === 'Resource' || this.resourceTypes.has(name)) return name;
    }
    return undefined;
  }

  referencedType(ref: string): string | undefined {
    return referencedType(ref, { isResourceType: (t) => this.resourceTypes.has(t) });
  }

  /** FHIR type named by a choice-type suffix: `Quantity` → Quantity, `DateTime` → dateTime. */
  typeOfSuffix(suffix: string): string | undefined {
    const kind = this.defs.types[suffix]?.kind;
    if (kind === 'complex-type' || kind === 'primitive-type') return suffix;
    const lower = suffix.charAt(0).toLowerCase() + suffix.slice(1);
    return this.defs.types[lower]?.kind === 'primitive-type' ? lower : undefined;
  }
}

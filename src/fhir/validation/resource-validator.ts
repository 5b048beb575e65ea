import * as path from 'path';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { OperationOutcomeIssue } from 'fhir/r4';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { projectRoot } from '../../config/project-root';
import { logger } from '../../logger';
import { FhirDefinitions } from '../definitions/definitions.module';
import { issue } from '../errors';
import { ProfileRegistry } from './profile-registry';
import { ProfileValidator } from './profile-validator';
import { SchemaCompiler } from './structure-schema';
import { NestedResource, StructureValidator } from './structure-validator';

export interface ValidateOptions {
  /** profiles to check besides those the resource claims ($validate `profile`) */
  profiles?: string[];
}

export const defaultProfilesDir = () => path.join(projectRoot(), 'fhir-profiles');

/**
 * Validates an incoming resource against the base R4 StructureDefinitions
 * (and the profiles in fhir-profiles/) before anything is written.
 *
 * Profiles apply to a resource (root, contained or in a Bundle) whose
 * `meta.profile` names a loaded one, to every resource of a type with a
 * mandatory profile (FHIR_REQUIRED_PROFILES), and to the profiles a caller
 * asks for. A `meta.profile` that is not loaded is only a warning.
 */
@Injectable()
export class ResourceValidator {
  readonly profiles: ProfileRegistry;
  private readonly structure: StructureValidator;
  private readonly profileValidator: ProfileValidator;
  private readonly requiredProfiles: Record<string, string[]>;

  constructor(
    definitions: FhirDefinitions,
    @Optional() @Inject(APP_CONFIG) config?: AppConfig,
  ) {
    this.structure = new StructureValidator(new SchemaCompiler(definitions.data));
    this.profiles = new ProfileRegistry(definitions.data);
    this.profileValidator = new ProfileValidator(this.profiles, (suffix) => this.profiles.typeOfSuffix(suffix));
    const dir = config?.profilesDir ?? defaultProfilesDir();
    const report = this.profiles.loadDirectory(dir);
    if (report.profiles) {
      logger.info({ dir, profiles: report.profiles, valueSets: report.valueSets, codeSystems: report.codeSystems }, 'profiles loaded');
    }
    for (const [file, why] of Object.entries(report.skipped)) logger.warn({ file, why }, 'profile file skipped');
    this.requiredProfiles = config?.requiredProfiles ?? {};
    for (const [type, urls] of Object.entries(this.requiredProfiles)) {
      for (const url of urls) {
        const p = this.profiles.get(url);
        if (!p || p.type !== type) throw new Error(`FHIR_REQUIRED_PROFILES: ${type}=${url} is not a ${type} profile in ${dir}`);
      }
    }
  }

  /** Issues found; an empty list (or only warnings) means valid. */
  validate(resource: unknown, options: ValidateOptions = {}): OperationOutcomeIssue[] {
    const nested: NestedResource[] = [];
    const issues = this.structure.validate(resource, nested);
    // profiles read the JSON shapes: only when the content is well-formed
    if (issues.some((i) => i.code === 'structure')) return issues;
    const root = resource as Record<string, any>;
    const type = root.resourceType as string;
    const claimed = new Set([...(this.requiredProfiles[type] ?? []), ...(options.profiles ?? [])]);
    const before = issues.length;
    this.checkProfiles(root, type, claimed, options.profiles ?? [], issues);
    for (const n of nested) this.checkProfiles(n.resource, n.path, new Set(), [], issues);
    return issues.length > before ? withoutRepeats(issues) : issues;
  }

  /** Profiles the resource claims in meta.profile plus `extra`; `explicit` ones must be loaded. */
  private checkProfiles(
    resource: Record<string, any>,
    path: string,
    extra: Set<string>,
    explicit: string[],
    issues: OperationOutcomeIssue[],
  ): void {
    const metaProfiles = resource.meta?.profile;
    if (!extra.size && !Array.isArray(metaProfiles)) return;
    const urls = new Set(extra);
    if (Array.isArray(metaProfiles)) for (const u of metaProfiles) if (typeof u === 'string') urls.add(u);
    for (const url of urls) {
      const profile = this.profiles.get(url);
      if (!profile) {
        const severity = explicit.includes(url) ? 'error' : 'warning';
        issues.push(issue('not-supported', `profile ${url} is not loaded on this server: not checked`, [`${path}.meta.profile`], severity));
        continue;
      }
      if (profile.type !== resource.resourceType) {
        issues.push(issue('value', `profile ${url} constrains ${profile.type}, not ${resource.resourceType}`, [`${path}.meta.profile`]));
        continue;
      }
      issues.push(...this.profileValidator.validate(resource, profile, path));
    }
  }
}

/** A profile repeating a base required binding reports the same bad code at the same place: keep the first. */
function withoutRepeats(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    if (i.code !== 'code-invalid') return true;
    const key = i.expression?.[0] ?? '';
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

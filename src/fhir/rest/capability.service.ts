import { Inject, Injectable } from '@nestjs/common';
import type { CapabilityStatement, CapabilityStatementRestResource } from 'fhir/r4';
import { FhirDefinitions } from '../definitions/definitions.module';
import { OperationRegistry } from '../operations/operation-registry';
import { READ_ONLY_TYPES } from './allowed-methods';
import { BASE_URL } from './rest.tokens';

/** Contributes search parameters, security and extra interactions to the CapabilityStatement. */
export interface CapabilityContributor {
  contribute(cs: CapabilityStatement): void;
}

/**
 * GET /metadata: a CapabilityStatement generated from what the server really
 * supports (types and interactions from the definitions, operations from the
 * registry, search parameters and security from their modules).
 */
@Injectable()
export class CapabilityService {
  private readonly contributors: CapabilityContributor[] = [];
  private cached?: string;

  constructor(
    @Inject(BASE_URL) private readonly baseUrl: string,
    private readonly definitions: FhirDefinitions,
    private readonly operations: OperationRegistry,
  ) {}

  addContributor(c: CapabilityContributor): void {
    this.contributors.push(c);
    this.cached = undefined;
  }

  /** Rebuilds the statement on the next request (a contributor's data changed: custom search parameters). */
  invalidate(): void {
    this.cached = undefined;
  }

  /** JSON text; built once (definitions do not change while running). */
  capabilityStatement(): string {
    if (!this.cached) this.cached = JSON.stringify(this.build());
    return this.cached;
  }

  private build(): CapabilityStatement {
    const ops = this.operations.all();
    const resource: CapabilityStatementRestResource[] = this.definitions.resourceTypes.map((type) => ({
      type,
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      interaction: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'].map(
        (code) => ({ code: code as any }),
      ),
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: false,
      // If-None-Match and If-Modified-Since both answer 304 (R4 ConditionalReadStatus)
      conditionalRead: 'full-support',
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      operation: ops
        .filter((o) => !o.levels.every((l) => l === 'system') && (!o.resourceTypes || o.resourceTypes.includes(type)))
        .map((o) => ({ name: o.name, definition: o.definition.url! })),
    }));
    const cs: CapabilityStatement = {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: new Date().toISOString(),
      publisher: 'fhir-r4-server',
      kind: 'instance',
      software: { name: 'fhir-r4-server', version: process.env.npm_package_version ?? '0.1.0' },
      implementation: { description: 'FHIR R4 server', url: this.baseUrl },
      fhirVersion: '4.0.1',
      format: ['application/fhir+json', 'json'],
      patchFormat: ['application/json-patch+json', 'application/fhir+json'],
      rest: [
        {
          mode: 'server',
          resource,
          // [compartment type]/[id]/[type] searches the R4 compartments (Patient, Encounter, Practitioner, RelatedPerson, Device)
          compartment: Object.values(this.definitions.data.compartmentUrls),
          interaction: [{ code: 'history-system' }],
          operation: ops
            .filter((o) => o.levels.includes('system'))
            .map((o) => ({ name: o.name, definition: o.definition.url! })),
        },
      ],
    };
    for (const c of this.contributors) c.contribute(cs);
    for (const rest of cs.rest ?? []) claimOnlyWhatIsServed(rest.resource ?? []);
    return cs;
  }
}

/**
 * After every contributor: a type claims no conditional write it does not serve, and the read-only
 * types (the audit trail, its own store) claim no operation or `_include`, nor appear in other types'
 * `_revinclude` (their rows are not in the resource tables those statements read).
 */
function claimOnlyWhatIsServed(resources: CapabilityStatementRestResource[]): void {
  for (const r of resources) {
    const codes = new Set((r.interaction ?? []).map((i) => i.code));
    if (!codes.has('create')) r.conditionalCreate = false;
    if (!codes.has('update')) r.conditionalUpdate = false;
    if (!codes.has('delete')) r.conditionalDelete = 'not-supported';
    if (READ_ONLY_TYPES.has(r.type)) {
      delete r.operation;
      delete r.searchInclude;
      delete r.searchRevInclude;
    }
    if (r.searchRevInclude) r.searchRevInclude = r.searchRevInclude.filter((x) => !READ_ONLY_TYPES.has(x.split(':')[0]));
  }
}

import { Global, Injectable, Module } from '@nestjs/common';
import { CompactDefinitions, loadDefinitions, SearchParameterInfo, TypeInfo } from './definitions';

/** The official R4 definitions, as the rest of the server sees them. */
@Injectable()
export class FhirDefinitions {
  readonly data: CompactDefinitions = loadDefinitions();
  private readonly resourceTypeSet = new Set(this.data.resourceTypes);

  get resourceTypes(): string[] {
    return this.data.resourceTypes;
  }

  isResourceType(name: string): boolean {
    return this.resourceTypeSet.has(name);
  }

  type(name: string): TypeInfo | undefined {
    return this.data.types[name];
  }

  /** SearchParameters whose base includes this resource type (or Resource/DomainResource). */
  searchParametersOf(resourceType: string): SearchParameterInfo[] {
    return this.data.searchParameters.filter(
      (sp) => sp.base.includes(resourceType) || sp.base.includes('Resource') || sp.base.includes('DomainResource'),
    );
  }
}

@Global()
@Module({ providers: [FhirDefinitions], exports: [FhirDefinitions] })
export class DefinitionsModule {}

import { Module, OnModuleInit } from '@nestjs/common';
import { OperationRegistry } from '../operations/operation-registry';
import { RestModule } from '../rest/rest.module';
import { SearchModule } from '../search/search.module';
import { StorageModule } from '../storage/storage.module';
import { StorageService } from '../storage/storage.service';
import { ValidationModule } from '../validation/validation.module';
import { ExpandOperation, LookupOperation, SubsumesOperation, ValidateCodeOperation } from './terminology.operations';
import { TerminologyService } from './terminology.service';

/** The terminology operations ($expand, $lookup, $validate-code, $subsumes) over the CodeSystems and ValueSets this server knows. */
@Module({
  imports: [RestModule, StorageModule, SearchModule, ValidationModule],
  providers: [TerminologyService, ExpandOperation, LookupOperation, SubsumesOperation],
})
export class TerminologyModule implements OnModuleInit {
  constructor(
    private readonly registry: OperationRegistry,
    private readonly terminology: TerminologyService,
    private readonly expand: ExpandOperation,
    private readonly lookup: LookupOperation,
    private readonly subsumes: SubsumesOperation,
    private readonly storage: StorageService,
  ) {}

  onModuleInit(): void {
    for (const op of [this.expand, this.lookup, this.subsumes]) this.registry.register(op);
    for (const type of ['ValueSet', 'CodeSystem'] as const) {
      this.registry.register(new ValidateCodeOperation(this.terminology, this.storage, type));
    }
  }
}

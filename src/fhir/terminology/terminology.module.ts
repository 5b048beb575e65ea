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
  providers: [TerminologyService],
})
export class TerminologyModule implements OnModuleInit {
  constructor(
    private readonly registry: OperationRegistry,
    private readonly terminology: TerminologyService,
    private readonly storage: StorageService,
  ) {}

  onModuleInit(): void {
    const [t, s] = [this.terminology, this.storage];
    for (const op of [new ExpandOperation(t, s), new LookupOperation(t, s), new SubsumesOperation(t, s), new ValidateCodeOperation(t, s, 'ValueSet'), new ValidateCodeOperation(t, s, 'CodeSystem')]) {
      this.registry.register(op);
    }
  }
}

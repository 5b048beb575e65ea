import { Module, OnModuleInit } from '@nestjs/common';
import { OperationRegistry } from '../operations/operation-registry';
import { ValidateOperation } from '../operations/validate.operation';
import { RestModule } from '../rest/rest.module';
import { ValidationModule } from './validation.module';

/** Registers `$validate` with the REST API's operation registry. */
@Module({ imports: [ValidationModule, RestModule], providers: [ValidateOperation] })
export class ValidateOperationModule implements OnModuleInit {
  constructor(
    private readonly registry: OperationRegistry,
    private readonly operation: ValidateOperation,
  ) {}

  onModuleInit(): void {
    this.registry.register(this.operation);
  }
}

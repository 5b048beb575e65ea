import { Module, OnModuleInit, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AuthModule } from '../../auth/auth.module';
import { BinaryModule } from '../binary/binary.module';
import { ExportModule } from '../export/export.module';
import { SearchModule } from '../search/search.module';
import { StorageModule } from '../storage/storage.module';
import { RestModule } from '../rest/rest.module';
import { ExportFileOperation } from './export-file.operation';
import { ExportPollStatusOperation } from './export-poll-status.operation';
import { ExportOperation } from './export.operation';
import { DocumentOperation } from './document.operation';
import { EncounterEverythingOperation } from './encounter-everything.operation';
import { EverythingOperation } from './everything.operation';
import { LastNOperation } from './lastn.operation';
import { MetaAddOperation, MetaDeleteOperation, MetaOperation } from './meta.operations';
import { FhirOperation, OperationRegistry } from './operation-registry';

const OPERATIONS: Type<FhirOperation>[] = [
  EverythingOperation,
  EncounterEverythingOperation,
  LastNOperation,
  ExportOperation,
  ExportPollStatusOperation,
  ExportFileOperation,
  MetaOperation,
  MetaAddOperation,
  MetaDeleteOperation,
  DocumentOperation,
];

/** Registers the clinical retrieval and population-data operations, and the Resource meta operations, with the REST API. */
@Module({ imports: [RestModule, StorageModule, SearchModule, AuthModule, ExportModule, BinaryModule], providers: OPERATIONS })
export class ClinicalOperationsModule implements OnModuleInit {
  constructor(
    private readonly registry: OperationRegistry,
    private readonly moduleRef: ModuleRef,
  ) {}

  onModuleInit(): void {
    for (const op of OPERATIONS) this.registry.register(this.moduleRef.get(op));
  }
}

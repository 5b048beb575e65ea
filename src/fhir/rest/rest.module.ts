import { forwardRef, Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { BinaryModule } from '../binary/binary.module';
import { BundleModule } from '../bundle/bundle.module';
import { OperationRegistry } from '../operations/operation-registry';
import { SearchModule } from '../search/search.module';
import { StorageModule } from '../storage/storage.module';
import { CapabilityService } from './capability.service';
import { FhirController } from './fhir.controller';
import { HistoryService } from './history.service';
import { InteractionsService } from './interactions.service';
import { BASE_URL } from './rest.tokens';

@Module({
  imports: [StorageModule, SearchModule, BinaryModule, forwardRef(() => BundleModule)],
  controllers: [FhirController],
  providers: [
    { provide: BASE_URL, inject: [APP_CONFIG], useFactory: (c: AppConfig) => c.fhirBaseUrl },
    InteractionsService,
    HistoryService,
    CapabilityService,
    OperationRegistry,
  ],
  exports: [InteractionsService, HistoryService, CapabilityService, OperationRegistry, BASE_URL],
})
export class RestModule {}

import { forwardRef, Module } from '@nestjs/common';
import { RestModule } from '../rest/rest.module';
import { SearchModule } from '../search/search.module';
import { StorageModule } from '../storage/storage.module';
import { BundleCapabilities } from './bundle-capabilities';
import { BundleService } from './bundle.service';
import { ConditionalService } from './conditional.service';
import { EntryAccessHook } from './entry-access';
import { EntryReader } from './entry-reader';
import { TransactionEngine } from './transaction-engine';

/**
 * Batch and transaction Bundles and the conditional interactions. The REST
 * controller routes `POST [base]` and the conditional URLs here; GET entries
 * are answered by the REST module's services (hence the forward reference).
 */
@Module({
  imports: [StorageModule, SearchModule, forwardRef(() => RestModule)],
  providers: [TransactionEngine, EntryReader, BundleService, ConditionalService, BundleCapabilities, EntryAccessHook],
  exports: [BundleService, ConditionalService, TransactionEngine, EntryAccessHook],
})
export class BundleModule {}

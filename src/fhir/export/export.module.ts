import { Module } from '@nestjs/common';
import { SearchModule } from '../search/search.module';
import { StorageModule } from '../storage/storage.module';
import { ExportService } from './export.service';
import { ExportWorker } from './export.worker';

/** Bulk Data $export: job lifecycle (ExportService) and the queue worker writing NDJSON (ExportWorker). */
@Module({
  imports: [StorageModule, SearchModule],
  providers: [ExportService, ExportWorker],
  exports: [ExportService],
})
export class ExportModule {}

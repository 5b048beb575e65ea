import { Module } from '@nestjs/common';
import { StorageModule } from '../storage/storage.module';
import { BinaryService } from './binary.service';

/** Binary resources with their documents stored in chunks and streamed (the REST layer routes Binary here). */
@Module({
  imports: [StorageModule],
  providers: [BinaryService],
  exports: [BinaryService],
})
export class BinaryModule {}

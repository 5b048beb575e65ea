import { Global, Module } from '@nestjs/common';
import { JobQueue } from './job-queue';

/** The PostgreSQL-backed background job queue (pg-boss), one per process. */
@Global()
@Module({ providers: [JobQueue], exports: [JobQueue] })
export class JobsModule {}

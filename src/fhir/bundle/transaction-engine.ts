import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { Database, Queryable } from '../../database/database';
import { logger } from '../../logger';
import { conflict } from '../errors';
import { SearchService } from '../search/search.service';
import { StorageService } from '../storage/storage.service';
import { BundleRepository } from './bundle.repository';
import type { EntryOutcome, EntryRequest } from './bundle.types';
import { CallerWriteMode, RetryableConflict, WriteMode, WriteRun } from './write-run';

const MAX_ATTEMPTS = 4;
/** deadlock_detected, serialization_failure, unique_violation (a concurrent insert of the same id) */
const RETRYABLE_SQLSTATES = new Set(['40P01', '40001', '23505']);

/**
 * Writes a set of entries all or nothing, in ONE database transaction. A
 * run of plain creates (no condition, no update) that fits one chunk is a
 * single multi-row statement, which PostgreSQL makes atomic by itself, so it
 * needs no BEGIN/COMMIT round trips. A run that lost a race (deadlock, an id created
 * concurrently) is retried from scratch: nothing of it was committed.
 */
@Injectable()
export class TransactionEngine {
  private readonly repo = new BundleRepository();

  constructor(
    private readonly db: Database,
    private readonly storage: StorageService,
    private readonly search: SearchService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  get deleteMax(): number {
    return this.config.conditionalDeleteMax;
  }

  /**
   * `mode.extras` (audit rows) go into the same statements as the versions they describe.
   * `reads` runs in the same transaction after the writes, before the commit (a transaction's
   * GET entries); if it throws, nothing is committed.
   */
  async write(entries: EntryRequest[], mode: CallerWriteMode, reads?: (q: Queryable) => Promise<void>): Promise<EntryOutcome[]> {
    if (!entries.length && !reads) return [];
    const full: WriteMode = { ...mode, deleteMax: this.config.conditionalDeleteMax, chunk: this.config.bundleWriteChunk };
    // more than a chunk: a transaction, whose statements are written while the next chunk is prepared
    const plainCreates = !reads && entries.length <= full.chunk && entries.every((e) => e.method === 'POST' && !e.ifNoneExist);
    for (let attempt = 1; ; attempt++) {
      const run = () => new WriteRun(this.storage, this.search, this.repo, entries, full);
      try {
        if (plainCreates) return await run().execute(this.db, false);
        return await this.db.transaction(async (tx) => {
          const outcomes = entries.length ? await run().execute(tx, true) : [];
          await reads?.(tx);
          return outcomes;
        });
      } catch (err: any) {
        const retryable = err instanceof RetryableConflict || RETRYABLE_SQLSTATES.has(err?.code);
        if (!retryable) throw err;
        if (attempt >= MAX_ATTEMPTS) {
          logger.warn({ code: err.code, attempts: attempt }, 'bundle write kept conflicting');
          throw conflict('the resources are being written concurrently; try again');
        }
        await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 20 * attempt));
      }
    }
  }
}

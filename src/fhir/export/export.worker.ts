import * as fs from 'fs';
import * as path from 'path';
import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type PgBoss from 'pg-boss';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { Database } from '../../database/database';
import { JobQueue } from '../../jobs/job-queue';
import { logger } from '../../logger';
import { operationOutcome, issue } from '../errors';
import { compartmentRestriction } from '../operations/patient-compartment';
import { SearchService } from '../search/search.service';
import { ExportService } from './export.service';
import { EXPORT_QUEUE, ExportFile, ExportJob } from './export.types';
import { NdjsonWriter } from './ndjson-writer';

/** The most ids one compartment lookup may return (one patient, one type). */
const MAX_COMPARTMENT_MATCHES = 1_000_000;

class Cancelled extends Error {}

/**
 * Runs export jobs from the queue: for each type, reads resources page by
 * page (keyset scans, or the patients' compartments through search) and
 * appends their stored JSON to `<Type>.ndjson` in the job's folder. Memory
 * holds one page at a time. An interrupted job (shutdown, crash) is retried
 * from the start by whichever process takes it next (a crash: when its
 * heartbeat stops, ExportService.recoverStalled); a cancelled or superseded
 * run stops at its next page.
 */
@Injectable()
export class ExportWorker implements OnApplicationBootstrap {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: Database,
    private readonly queue: JobQueue,
    private readonly exports: ExportService,
    private readonly search: SearchService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.process<{ exportId: string }>(
      EXPORT_QUEUE,
      { retryLimit: 5, retryDelay: 1, retryBackoff: true, expireInSeconds: 6 * 3600, workers: 1, pollingIntervalSeconds: 5 },
      (job, signal) => this.run(job, signal),
    );
  }

  private async run(job: PgBoss.JobWithMetadata<{ exportId: string }>, signal: AbortSignal): Promise<void> {
    const id = job.data.exportId;
    const exp = await this.exports.jobs.find(this.db, id);
    if (!exp || exp.status === 'completed' || exp.status === 'failed') return;
    const attempt = await this.exports.jobs.claim(this.db, id);
    if (attempt === undefined) return;
    const dir = this.exports.directory(id, attempt);
    try {
      await this.export(exp, attempt, dir, signal);
      logger.info({ exportId: id, attempt }, 'bulk export completed');
    } catch (err: any) {
      await fs.promises.rm(dir, { recursive: true, force: true });
      if (err instanceof Cancelled) {
        // cancelled (the job is gone, not taken over): the export's folder too, which this run re-created
        if (!(await this.exports.jobs.find(this.db, id))) await fs.promises.rm(this.exports.directory(id), { recursive: true, force: true });
        return;
      }
      if (signal.aborted) throw err; // shutdown: the queue retries it later
      const now = await this.exports.jobs.find(this.db, id);
      if (now?.attempt !== attempt) return; // cancelled, or another run took it over meanwhile
      logger.warn({ exportId: id, err: err?.message, attempt: job.retryCount }, 'bulk export attempt failed');
      if (job.retryCount >= job.retryLimit) {
        await this.exports.jobs.fail(this.db, id, 'the export failed; see the server log', this.exports.expiry());
        return;
      }
      throw err;
    }
  }

  private async export(exp: ExportJob, attempt: number, dir: string, signal: AbortSignal): Promise<void> {
    // earlier, interrupted attempts may have left partial files
    await fs.promises.rm(this.exports.directory(exp.id), { recursive: true, force: true });
    await fs.promises.mkdir(dir, { recursive: true });
    const output: ExportFile[] = [];
    const failures: string[] = [];
    let exported = 0;
    const { types } = exp.params;
    for (const [i, type] of types.entries()) {
      const writer = new NdjsonWriter(path.join(dir, `${type}.ndjson`));
      try {
        for await (const contents of this.pages(exp, type)) {
          if (signal.aborted) throw new Error('interrupted by shutdown');
          for (const json of contents) await writer.write(json);
          exported += contents.length;
          const progress = `${type} (${i + 1} of ${types.length} types), ${exported} resources`;
          if (!(await this.exports.jobs.progress(this.db, exp.id, attempt, progress))) throw new Cancelled();
        }
      } catch (err: any) {
        if (err instanceof Cancelled || signal.aborted) throw err;
        // one type failing (e.g. a _typeFilter the search cannot run) is reported, not fatal
        failures.push(`${type}: ${err?.message ?? 'export failed'}`);
      } finally {
        await writer.close().catch(() => undefined);
      }
      if (writer.count > 0) output.push({ type, file: `${type}.ndjson`, count: writer.count });
      else await fs.promises.rm(writer.path, { force: true });
    }
    const error: ExportFile[] = [];
    if (failures.length) {
      const writer = new NdjsonWriter(path.join(dir, 'errors.ndjson'));
      for (const f of failures) await writer.write(JSON.stringify(operationOutcome([issue('exception', f)])));
      await writer.close();
      error.push({ type: 'OperationOutcome', file: 'errors.ndjson', count: writer.count });
    }
    if (!(await this.exports.jobs.complete(this.db, exp.id, attempt, output, error, this.exports.expiry()))) throw new Cancelled();
  }

  /** The stored JSON of the resources to export for one type, a page at a time. */
  private async *pages(exp: ExportJob, type: string): AsyncGenerator<string[]> {
    const { since, patients } = exp.params;
    const alternatives = exp.params.filters[type] ?? [];
    const size = this.config.bulkExportPageSize;
    if (patients) {
      const bounds: [string, string][] = [['_lastUpdated', `le${exp.transactionTime.toISOString()}`]];
      if (since) bounds.push(['_lastUpdated', `ge${since}`]);
      const seen = new Set<string>();
      for (const patient of patients) {
        const ids: string[] = [];
        for (const alt of alternatives.length ? alternatives : [[]]) {
          const matches = await this.search.findMatches(type, [...bounds, ...alt], {
            limit: MAX_COMPARTMENT_MATCHES,
            restriction: compartmentRestriction([patient]),
          });
          for (const m of matches) {
            if (!seen.has(m.id)) {
              seen.add(m.id);
              ids.push(m.id);
            }
          }
        }
        if (!ids.length) yield []; // still a page: progress and heartbeat
        for (let i = 0; i < ids.length; i += size) yield await this.exports.jobs.contents(this.db, type, ids.slice(i, i + size));
      }
      return;
    }
    let afterId: string | undefined;
    for (;;) {
      const page = await this.exports.jobs.page(this.db, type, { afterId, since, until: exp.transactionTime, limit: size });
      if (!page.ids.length) return;
      afterId = page.ids[page.ids.length - 1];
      yield alternatives.length ? await this.filter(type, page.ids, page.contents, alternatives) : page.contents;
      if (page.ids.length < size) return;
    }
  }

  /** The page's resources that match any of the criteria alternatives (`_typeFilter`, granular scopes). */
  private async filter(type: string, ids: string[], contents: string[], alternatives: [string, string][][]): Promise<string[]> {
    const keep = new Set<string>();
    for (const alt of alternatives) {
      const matches = await this.search.findMatches(type, [...alt, ['_id', ids.join(',')]], { limit: ids.length });
      for (const m of matches) keep.add(m.id);
    }
    return contents.filter((_, i) => keep.has(ids[i]));
  }
}

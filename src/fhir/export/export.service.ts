import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Group, Parameters } from 'fhir/r4';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { Database } from '../../database/database';
import { JobQueue } from '../../jobs/job-queue';
import { logger } from '../../logger';
import { FhirDefinitions } from '../definitions/definitions.module';
import { badRequest, FhirError, issue, notFound, operationOutcome } from '../errors';
import type { FhirResponse } from '../rest/fhir-response';
import type { RequestContext } from '../rest/request-context';
import { localReference } from '../search/index-values';
import { StorageService } from '../storage/storage.service';
import { combine, exportScopes } from './export-access';
import { ExportJobRepository } from './export-job.repository';
import { Criteria, EXPORT_QUEUE, ExportFile, ExportJob, ExportParams } from './export.types';

const OUTPUT_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
/** Types a system-level export leaves out unless asked: Binary payloads live outside the resource row. */
const NOT_EXPORTED = new Set(['Binary']);
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const SWEEP_EVERY_MS = 60_000;
/** A run that has not written a page for this long is taken to be dead. */
const STALLED_AFTER_S = 120;

export interface KickOff {
  level: ExportParams['level'];
  groupId?: string;
  /** parameters from the URL and, for POST, the Parameters body */
  params: [string, string][];
  /** the kick-off request URL, as the manifest's `request` */
  request: string;
}

/**
 * Bulk Data Access 2.0 (hl7.org/fhir/uv/bulkdata/export.html): kick-off,
 * status polling, cancellation and file download. The export itself runs on
 * the job queue (ExportWorker); this service owns the job's lifecycle.
 */
@Injectable()
export class ExportService implements OnModuleInit, OnModuleDestroy {
  readonly jobs = new ExportJobRepository();
  private sweeper?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: Database,
    private readonly queue: JobQueue,
    private readonly definitions: FhirDefinitions,
    private readonly storage: StorageService,
  ) {}

  onModuleInit(): void {
    this.sweeper = setInterval(() => {
      this.sweep()
        .then(() => this.recoverStalled())
        .catch((err) => logger.warn({ err: err.message }, 'export sweep failed'));
    }, SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  onModuleDestroy(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** Where the files of an export live: DATA_DIR/bulk-export/<id>, and /<attempt> for one run's files. */
  directory(id: string, attempt?: number): string {
    const root = this.config.dataDir === ':memory:' ? path.join(os.tmpdir(), 'fhir-server') : this.config.dataDir;
    const dir = path.join(root, 'bulk-export', id);
    return attempt === undefined ? dir : path.join(dir, String(attempt));
  }

  expiry(): Date {
    return new Date(Date.now() + this.config.bulkExportExpirySeconds * 1000);
  }

  // ---- kick-off ------------------------------------------------------------

  async kickOff(ctx: RequestContext, k: KickOff): Promise<FhirResponse> {
    if (!ctx.prefer.respondAsync) throw badRequest('Bulk Data export needs the header "Prefer: respond-async"');
    const params = await this.resolve(ctx, k);
    const id = randomUUID();
    await this.db.transaction(async (tx) => {
      await this.jobs.insert(tx, {
        id,
        clientId: ctx.auth?.clientId ?? null,
        request: k.request,
        params,
        transactionTime: new Date(),
        expiresAt: this.expiry(),
      });
      // the queue job carries the export's id, so a cancel can reach it
      await this.queue.send(EXPORT_QUEUE, { exportId: id }, { id }, tx);
    });
    this.queue.wake(EXPORT_QUEUE);
    logger.info({ exportId: id, level: params.level, types: params.types.length }, 'bulk export accepted');
    return {
      status: 202,
      headers: { 'Content-Location': this.statusUrl(ctx, id) },
      body: operationOutcome([issue('informational', `export ${id} accepted`, undefined, 'information')]),
    };
  }

  statusUrl(ctx: RequestContext, id: string): string {
    return `${ctx.baseUrl}/$export-poll-status?_jobId=${id}`;
  }

  /** Validates the kick-off parameters against the definitions and the token (400 / 403 / 404). */
  private async resolve(ctx: RequestContext, k: KickOff): Promise<ExportParams> {
    let types: string[] | undefined;
    let since: string | undefined;
    const typeFilters: [string, [string, string][]][] = [];
    const patients: string[] = [];
    for (const [name, value] of k.params) {
      switch (name) {
        case '_outputFormat':
          if (!OUTPUT_FORMATS.has(value)) throw badRequest(`_outputFormat "${value}" is not supported; use application/fhir+ndjson`);
          break;
        case '_since':
          if (!INSTANT.test(value) || Number.isNaN(Date.parse(value))) throw badRequest(`_since "${value}" is not a FHIR instant`);
          since = new Date(value).toISOString();
          break;
        case '_type':
          types = [...(types ?? []), ...value.split(',').map((t) => t.trim()).filter(Boolean)];
          break;
        case '_typeFilter':
          for (const q of value.split(',')) typeFilters.push(this.parseTypeFilter(q));
          break;
        case 'patient':
          if (k.level === 'system') throw badRequest('the patient parameter applies to Patient and Group level exports only');
          patients.push(patientId(value, ctx.baseUrl));
          break;
        case '_format':
        case '_pretty':
          break;
        default:
          throw badRequest(`unsupported $export parameter "${name}"`);
      }
    }
    const scopes = exportScopes(ctx.auth);
    const inScope = this.scopeTypes(k.level);
    if (types) {
      for (const t of types) {
        if (!this.definitions.isResourceType(t)) throw badRequest(`_type "${t}" is not a resource type`);
        if (!inScope.includes(t)) throw badRequest(`${t} cannot be exported at ${k.level} level`);
        if (scopes && scopes(t) === false) throw FhirError.of(403, 'forbidden', `the token's scopes do not allow exporting ${t}`);
      }
    }
    const chosen = (types ? [...new Set(types)] : inScope).filter((t) => !scopes || scopes(t) !== false);
    for (const [t] of typeFilters) {
      if (!chosen.includes(t)) throw badRequest(`_typeFilter names ${t}, which is not exported`);
    }
    const filters: Record<string, Criteria> = {};
    for (const t of chosen) {
      const own = typeFilters.filter(([ft]) => ft === t).map(([, q]) => q);
      const auth = scopes ? (scopes(t) as Criteria) : [];
      const combined = combine(own, auth);
      if (combined.length) filters[t] = combined;
    }
    const params: ExportParams = { level: k.level, types: chosen, filters, since };
    if (k.level === 'group') {
      const members = await this.groupMembers(k.groupId!, ctx.baseUrl);
      params.groupId = k.groupId;
      params.patients = patients.length ? members.filter((m) => patients.includes(m)) : members;
    } else if (patients.length) {
      params.patients = [...new Set(patients)];
    }
    return params;
  }

  /** System level: every type with stored resources (but Binary); Patient/Group level: the Patient compartment. */
  private scopeTypes(level: ExportParams['level']): string[] {
    if (level === 'system') return this.definitions.resourceTypes.filter((t) => !NOT_EXPORTED.has(t));
    const compartment = Object.keys(this.definitions.data.compartments.Patient ?? {}).filter(
      (t) => this.definitions.data.compartments.Patient[t].length > 0,
    );
    return ['Patient', ...compartment.filter((t) => t !== 'Patient').sort()];
  }

  private parseTypeFilter(query: string): [string, [string, string][]] {
    const m = /^([A-Z][A-Za-z]+)\?(.+)$/.exec(query.trim());
    if (!m || !this.definitions.isResourceType(m[1])) throw badRequest(`_typeFilter "${query}" must look like Type?search`);
    return [m[1], [...new URLSearchParams(m[2]).entries()]];
  }

  /**
   * Patients of a Group on this server (Group.member.entity, inactive members left out): relative, versioned
   * or absolute under this base (references.html#literal); a Patient of another server is none of ours.
   */
  private async groupMembers(groupId: string, baseUrl: string): Promise<string[]> {
    const stored = await this.storage.read('Group', groupId);
    const group = JSON.parse(stored.content!) as Group;
    const ids = (group.member ?? [])
      .filter((m) => !m.inactive)
      .map((m) => localReference(m.entity?.reference ?? '', baseUrl))
      .filter((r) => r?.type === 'Patient')
      .map((r) => r!.id);
    return [...new Set(ids)];
  }

  // ---- status, cancel, files -----------------------------------------------

  /** The job as its client may see it: 404 when unknown, expired, cancelled or someone else's. */
  async visibleJob(ctx: RequestContext, id: string | undefined): Promise<ExportJob> {
    const job = id ? await this.jobs.find(this.db, id) : undefined;
    // a job kicked off with a token belongs to that client; without auth, to whoever knows its URL
    if (!job || (job.clientId !== null && job.clientId !== ctx.auth?.clientId)) {
      throw notFound(`export ${id ?? ''} is not known`);
    }
    return job;
  }

  async status(ctx: RequestContext, id: string | undefined): Promise<FhirResponse> {
    const job = await this.visibleJob(ctx, id);
    if (job.status === 'failed') {
      return { status: 500, body: operationOutcome([issue('exception', job.message ?? 'the export failed')]) };
    }
    if (job.status !== 'completed') {
      return { status: 202, headers: { 'X-Progress': job.progress ?? 'queued', 'Retry-After': '2' } };
    }
    const file = (f: ExportFile) => ({
      type: f.type,
      url: `${ctx.baseUrl}/$export-file?_jobId=${job.id}&_file=${encodeURIComponent(f.file)}`,
      count: f.count,
    });
    return {
      status: 200,
      headers: { Expires: job.expiresAt.toUTCString() },
      body: {
        transactionTime: job.transactionTime.toISOString(),
        request: job.request,
        requiresAccessToken: true,
        output: job.output.map(file),
        error: job.error.map(file),
      },
    };
  }

  async cancel(ctx: RequestContext, id: string | undefined): Promise<FhirResponse> {
    const job = await this.visibleJob(ctx, id);
    await this.remove(job.id);
    logger.info({ exportId: job.id }, 'bulk export cancelled');
    return { status: 202, body: operationOutcome([issue('informational', `export ${job.id} cancelled`, undefined, 'information')]) };
  }

  /** Path of one output file of a completed export, if the caller may have it. */
  async filePath(ctx: RequestContext, id: string | undefined, name: string | undefined): Promise<string> {
    const job = await this.visibleJob(ctx, id);
    const known = [...job.output, ...job.error].some((f) => f.file === name);
    if (job.status !== 'completed' || !known) throw notFound(`file ${name ?? ''} of export ${job.id} is not known`);
    return path.join(this.directory(job.id, job.attempt), name!);
  }

  /** Deletes the job row, its queue job and its files. */
  async remove(id: string): Promise<void> {
    await this.jobs.delete(this.db, id);
    await this.queue.cancel(EXPORT_QUEUE, id);
    // a worker still writing may race this; it removes the folder itself when it sees the job gone
    await fs.promises.rm(this.directory(id), { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }

  /** Removes expired exports (any process may run it; it is idempotent). */
  async sweep(): Promise<void> {
    for (const id of await this.jobs.expired(this.db)) await this.remove(id);
  }

  /** Re-queues exports whose run stopped beating (its process died): the new run takes them over. */
  async recoverStalled(): Promise<string[]> {
    const ids = await this.jobs.stalled(this.db, STALLED_AFTER_S);
    for (const id of ids) {
      logger.warn({ exportId: id }, 'bulk export stalled; starting it again');
      await this.queue.send(EXPORT_QUEUE, { exportId: id });
    }
    if (ids.length) this.queue.wake(EXPORT_QUEUE);
    return ids;
  }
}

/** The id of a `patient` parameter: a bare id, or a reference to a Patient on this server (references.html#literal). */
function patientId(value: string, baseUrl: string): string {
  const v = value.trim();
  if (/^[A-Za-z0-9\-.]{1,64}$/.test(v)) return v;
  const ref = localReference(v, baseUrl);
  if (ref?.type !== 'Patient') throw badRequest(`patient "${value}" is not a reference to a Patient on this server`);
  return ref.id;
}

/** Kick-off parameters of a POST: the Parameters body (Bulk Data 2.0 §POST), values as strings. */
export function parametersBody(body: unknown): [string, string][] {
  const p = body as Parameters | undefined;
  if (!p || typeof p !== 'object' || Object.keys(p).length === 0) return [];
  if (p.resourceType !== 'Parameters') throw badRequest('a POST kick-off body must be a Parameters resource');
  const pairs: [string, string][] = [];
  for (const param of p.parameter ?? []) {
    const value =
      param.valueReference?.reference ?? param.valueString ?? param.valueInstant ?? param.valueCode ?? param.valueUri ?? param.valueDateTime;
    if (param.name && value !== undefined) pairs.push([param.name, String(value)]);
  }
  return pairs;
}

import { Inject, Injectable, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Binary, Resource } from 'fhir/r4';
import { AuditService } from '../../audit/audit.service';
import { APP_CONFIG, AppConfig } from '../../config/config';
import { Database } from '../../database/database';
import { logger } from '../../logger';
import { badRequest, FhirError, notFound } from '../errors';
import { assertFhirId } from '../fhir-id';
import { asksFhirVersion } from '../rest/content-negotiation';
import { FHIR_JSON, FHIR_JSON_R4, FhirResponse, versionHeaders } from '../rest/fhir-response';
import { header, parseETagVersion, RequestContext } from '../rest/request-context';
import { StorageService, WriteResult } from '../storage/storage.service';
import type { StoredVersion } from '../storage/storage.types';
import { Base64Stream, base64Length, isFhirBody, wantsFhirResource } from './binary-http';
import { BinaryRepository, BlobInfo, BlobTooLarge } from './binary.repository';

const SWEEP_EVERY_MS = 10 * 60_000;
const ORPHAN_AGE_MS = 60 * 60_000;

/**
 * Binary (http.html#binary, binary.html): the document is stored in chunks
 * beside the resource row (whose content omits `data`), received and sent as
 * streams, so a 100 MB upload or download keeps ~1 MiB in the heap.
 * create/update take the raw document (any Content-Type) or the FHIR JSON
 * resource; read answers the raw document or the resource with base64 `data`.
 * Access (Binary.securityContext) is decided before this runs, by the auth
 * guard (RequestAuthorizer), like every other interaction.
 */
@Injectable()
export class BinaryService implements OnModuleInit, OnModuleDestroy {
  readonly repository: BinaryRepository;
  private sweeper?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    db: Database,
    private readonly storage: StorageService,
    @Optional() private readonly audit?: AuditService,
  ) {
    this.repository = new BinaryRepository(db);
  }

  onModuleInit(): void {
    this.sweeper = setInterval(() => {
      this.repository
        .sweepOrphans(ORPHAN_AGE_MS)
        .then((n) => n && logger.info({ blobs: n }, 'removed orphaned Binary payloads'))
        .catch((err) => logger.warn({ err: err.message }, 'Binary sweep failed'));
    }, SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  onModuleDestroy(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** POST [base]/Binary */
  create(ctx: RequestContext, req: Request): Promise<WriteResult> {
    return this.write(ctx, req, undefined, undefined);
  }

  /** PUT [base]/Binary/{id} */
  update(ctx: RequestContext, req: Request, id: string, ifMatch?: number): Promise<WriteResult> {
    assertFhirId(id);
    return this.write(ctx, req, id, ifMatch);
  }

  /**
   * A new version made from the current resource by `change` (`$meta-add`, `$meta-delete`), the
   * document unchanged: the version carries the blob of the one it follows, in the statement that
   * writes it (with its AuditEvent), like `update` attaches an uploaded one. `change` may not touch
   * `data` (a document stored in chunks is not in the content it is given).
   */
  async modify(ctx: RequestContext, id: string, change: (current: Resource) => Resource): Promise<WriteResult> {
    const extras = [this.repository.carryForward(), ...(this.audit?.writeExtras(ctx) ?? [])];
    const result = await this.storage.modify('Binary', id, change, { extras });
    this.audit?.recordedInStatement(ctx, result.changed);
    return result;
  }

  /**
   * GET [base]/Binary/{id}[/_history/{vid}]: the raw document, or the
   * resource when a FHIR format is asked for. Writes the response itself
   * (streamed) and returns undefined, or returns a FhirResponse (304, no data).
   */
  async read(ctx: RequestContext, req: Request, res: Response, id: string, versionId?: string): Promise<FhirResponse | undefined> {
    let v: StoredVersion;
    if (versionId === undefined) v = await this.storage.read('Binary', id);
    else if (/^[0-9]+$/.test(versionId)) v = await this.storage.vread('Binary', id, Number(versionId));
    else throw notFound(`version "${versionId}" is not known`);
    const resource = JSON.parse(v.content!) as Binary;
    const headers = versionHeaders(v);
    const ifNoneMatch = parseETagVersion(header(req, 'if-none-match'), 'If-None-Match');
    if (ifNoneMatch === v.versionId) return { status: 304, headers };
    const blob = await this.repository.blobOf(id, v.versionId);
    if (wantsFhirResource(req)) {
      if (!blob) return { status: 200, body: v.content!, headers };
      await this.sendResource(req, res, headers, v.content!, blob);
      return undefined;
    }
    for (const [k, value] of Object.entries(headers)) res.setHeader(k, value);
    res.setHeader('Content-Type', resource.contentType || 'application/octet-stream');
    // the document is served from the API origin: never let a browser run or sniff it
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "sandbox; default-src 'none'");
    if (resource.securityContext?.reference) res.setHeader('X-Security-Context', resource.securityContext.reference);
    if (!blob) {
      // written inline (e.g. through a Bundle): data is in the resource itself
      const bytes = Buffer.from(resource.data ?? '', 'base64');
      res.setHeader('Content-Length', String(bytes.length));
      res.status(200).end(bytes);
      return undefined;
    }
    res.setHeader('Content-Length', String(blob.size));
    res.status(200);
    await this.pipeChunks(res, blob, (chunk) => chunk);
    res.end();
    return undefined;
  }

  // ---- internals -----------------------------------------------------------

  private async write(ctx: RequestContext, req: Request, id: string | undefined, ifMatch?: number): Promise<WriteResult> {
    const { resource, payload } = this.incoming(req, id);
    let blob: BlobInfo | undefined;
    try {
      blob = payload ? await this.repository.writeBlob(payload, this.config.maxBinaryBytes) : undefined;
    } catch (err) {
      if (err instanceof BlobTooLarge) throw tooLarge(this.config.maxBinaryBytes);
      throw err;
    }
    try {
      // the AuditEvent goes into the statement that writes the version (and links the document): all or nothing
      const extras = [...(blob ? [this.repository.attach(blob.blobId)] : []), ...(this.audit?.writeExtras(ctx) ?? [])];
      const result = id
        ? await this.storage.update(resource, { ifMatch, extras })
        : await this.storage.create(resource, { extras });
      this.audit?.recordedInStatement(ctx, result.changed);
      return result;
    } catch (err) {
      if (blob) await this.repository.deleteBlob(blob.blobId).catch(() => undefined);
      throw err;
    }
  }

  /** The Binary resource to store (without `data`) and the byte stream of the document. */
  private incoming(req: Request, id: string | undefined): { resource: Binary; payload?: AsyncIterable<Buffer | string> | Iterable<Buffer> } {
    const max = this.config.maxBinaryBytes;
    if (isFhirBody(req.headers['content-type'])) {
      const body = req.body as Binary | undefined;
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('a Binary resource is required in the request body');
      if (body.resourceType !== 'Binary') throw badRequest(`resourceType "${String(body.resourceType)}" does not match the URL type "Binary"`, ['resourceType']);
      if (id !== undefined) {
        if (body.id === undefined) throw badRequest('the resource must carry the id of the URL', ['id']);
        if (body.id !== id) throw badRequest(`body id "${body.id}" does not match URL id "${id}"`, ['id']);
      }
      const { data, ...resource } = body;
      if (data === undefined) return { resource };
      if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data.replace(/\s+/g, ''))) {
        throw badRequest('Binary.data must be base64', ['Binary.data']);
      }
      const bytes = Buffer.from(data, 'base64');
      if (bytes.length > max) throw tooLarge(max);
      return { resource, payload: [bytes] };
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) throw tooLarge(max);
    const resource: Binary = { resourceType: 'Binary', contentType: header(req, 'content-type') || 'application/octet-stream' };
    if (id !== undefined) resource.id = id;
    // http.html#binary: X-Security-Context carries Binary.securityContext for a raw upload
    const securityContext = header(req, 'x-security-context');
    if (securityContext) resource.securityContext = { reference: securityContext };
    // on 413 stop reading without destroying the request: the response still has to go out on its socket
    return { resource, payload: req.iterator({ destroyOnReturn: false }) };
  }

  /**
   * The Binary resource as FHIR JSON, `data` base64-encoded on the fly from the chunks; its
   * Content-Type names fhirVersion when the request did (http.html#version-parameter), as `reply` does.
   */
  private async sendResource(req: Request, res: Response, headers: Record<string, string>, content: string, blob: BlobInfo): Promise<void> {
    const prefix = `${content.slice(0, content.lastIndexOf('}'))},"data":"`;
    const suffix = '"}';
    for (const [k, value] of Object.entries(headers)) res.setHeader(k, value);
    res.setHeader('Content-Type', asksFhirVersion(req) ? FHIR_JSON_R4 : FHIR_JSON);
    res.setHeader('Content-Length', String(Buffer.byteLength(prefix) + base64Length(blob.size) + suffix.length));
    res.status(200);
    res.write(prefix);
    const b64 = new Base64Stream();
    await this.pipeChunks(res, blob, (chunk) => b64.push(chunk));
    res.end(b64.end() + suffix);
  }

  /** Writes every chunk (transformed) to the response, waiting for the client to drain; stops if it goes away. */
  private async pipeChunks(res: Response, blob: BlobInfo, transform: (chunk: Buffer) => Buffer | string): Promise<void> {
    let next = blob.chunks > 0 ? this.repository.chunk(blob.blobId, 0) : undefined;
    for (let seq = 0; seq < blob.chunks; seq++) {
      const chunk = await next!;
      // fetch the next chunk while this one is written
      next = seq + 1 < blob.chunks ? this.repository.chunk(blob.blobId, seq + 1) : undefined;
      if (res.destroyed) {
        next?.catch(() => undefined);
        return;
      }
      if (!res.write(transform(chunk))) await drained(res);
    }
  }
}

/** Resolves when the response can take more data, or is gone. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function tooLarge(max: number): FhirError {
  const err = FhirError.of(413, 'too-costly', `Binary content is larger than the limit of ${max} bytes`);
  // do not read the rest of an oversized upload: close the connection after answering
  err.headers.Connection = 'close';
  return err;
}

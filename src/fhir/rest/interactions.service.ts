import { Injectable, Optional } from '@nestjs/common';
import type { Resource } from 'fhir/r4';
import { AuditService } from '../../audit/audit.service';
import type { Queryable } from '../../database/database';
import { FhirDefinitions } from '../definitions/definitions.module';
import { badRequest, issue, notFound, operationOutcome } from '../errors';
import { assertFhirId } from '../fhir-id';
import { applyResourcePatch, readPatch } from '../patch/resource-patch';
import { readShaping, shapeResource } from '../search/result-shaping';
import { StorageService, WriteOptions, WriteResult } from '../storage/storage.service';
import type { StoredVersion } from '../storage/storage.types';
import { FhirResponse, versionHeaders } from './fhir-response';
import type { RequestContext } from './request-context';

export interface ReadConditions {
  ifNoneMatch?: number;
  ifModifiedSince?: Date;
}

/**
 * The instance and type level RESTful interactions (http.html): read, vread,
 * create, update, patch, delete, each answering a FhirResponse.
 */
@Injectable()
export class InteractionsService {
  constructor(
    private readonly storage: StorageService,
    private readonly definitions: FhirDefinitions,
    @Optional() private readonly audit?: AuditService,
  ) {}

  /** Write options that put the write's AuditEvent into its own statement (src/audit). */
  private audited(ctx: RequestContext, ifMatch?: number): WriteOptions {
    return { ifMatch, extras: this.audit?.writeExtras(ctx) };
  }

  /** The write is audited: the response needs no AuditEvent of its own. */
  private stored(ctx: RequestContext, result: WriteResult): WriteResult {
    this.audit?.recordedInStatement(ctx, result.changed);
    return result;
  }

  isResourceType(resourceType: string): boolean {
    return this.definitions.isResourceType(resourceType);
  }

  /** 404 for a type that R4 does not define. */
  assertType(resourceType: string): void {
    if (!this.isResourceType(resourceType)) {
      throw notFound(`unknown resource type "${resourceType}"`);
    }
  }

  /** `q`: a transaction's connection (its GET entries read its own writes); default the pool. */
  async read(resourceType: string, id: string, cond: ReadConditions = {}, shaping?: ReadShaping, q?: Queryable): Promise<FhirResponse> {
    this.assertType(resourceType);
    const v = await this.storage.read(resourceType, id, q);
    const headers = versionHeaders(v);
    if (cond.ifNoneMatch !== undefined && cond.ifNoneMatch === v.versionId) return { status: 304, headers };
    if (cond.ifModifiedSince && Math.floor(v.lastUpdated.getTime() / 1000) * 1000 <= cond.ifModifiedSince.getTime()) {
      return { status: 304, headers };
    }
    return { status: 200, body: shaped(v.content!, shaping), headers };
  }

  async vread(resourceType: string, id: string, versionId: string, shaping?: ReadShaping, q?: Queryable): Promise<FhirResponse> {
    this.assertType(resourceType);
    if (!/^[0-9]+$/.test(versionId)) throw notFound(`version "${versionId}" is not known`);
    const v = await this.storage.vread(resourceType, id, Number(versionId), q);
    return { status: 200, body: shaped(v.content!, shaping), headers: versionHeaders(v) };
  }

  async create(ctx: RequestContext, resourceType: string, body: unknown): Promise<FhirResponse> {
    const resource = this.checkBody(resourceType, body);
    const result = this.stored(ctx, await this.storage.create(resource, this.audited(ctx)));
    return this.writeResponse(ctx, result);
  }

  async update(ctx: RequestContext, resourceType: string, id: string, body: unknown, ifMatch?: number): Promise<FhirResponse> {
    const resource = this.checkBody(resourceType, body);
    if (resource.id === undefined) throw badRequest('the resource must carry the id of the URL', ['id']);
    if (resource.id !== id) throw badRequest(`body id "${resource.id}" does not match URL id "${id}"`, ['id']);
    assertFhirId(id);
    const result = this.stored(ctx, await this.storage.update(resource, this.audited(ctx, ifMatch)));
    return this.writeResponse(ctx, result);
  }

  async patch(
    ctx: RequestContext,
    resourceType: string,
    id: string,
    body: unknown,
    ifMatch?: number,
  ): Promise<FhirResponse> {
    this.assertType(resourceType);
    const patch = readPatch(body);
    return this.writeResponse(ctx, await this.modify(ctx, resourceType, id, (current) => applyResourcePatch(current, patch), ifMatch));
  }

  /**
   * A new version made from the current content (patch, $meta-add, $meta-delete) through the
   * normal write path: 404 unknown, 410 deleted, validated, indexed, its AuditEvent in its statement.
   */
  async modify(ctx: RequestContext, resourceType: string, id: string, change: (current: Resource) => Resource, ifMatch?: number): Promise<WriteResult> {
    return this.stored(ctx, await this.storage.modify(resourceType, id, change, this.audited(ctx, ifMatch)));
  }

  async delete(ctx: RequestContext, resourceType: string, id: string, ifMatch?: number): Promise<FhirResponse> {
    this.assertType(resourceType);
    const deleted = await this.storage.delete(resourceType, id, this.audited(ctx, ifMatch));
    // an id that never existed: nothing written, answered as done (http.html#delete); audited from the response
    const result = deleted && this.stored(ctx, deleted);
    // the deletion is a version (http.html#delete): its ETag, and its time as Last-Modified
    const headers = result?.changed ? versionHeaders(result.stored) : undefined;
    if (ctx.prefer.return === 'OperationOutcome') {
      const text = !result
        ? `${resourceType}/${id} does not exist: nothing to delete`
        : result.changed
          ? `deleted ${resourceType}/${id}`
          : `${resourceType}/${id} was already deleted`;
      return { status: 200, headers, body: operationOutcome([issue('informational', text, undefined, 'information')]) };
    }
    return { status: 204, headers };
  }

  /** The answer to a successful write, shaped by `Prefer: return=`. */
  writeResponse(ctx: RequestContext, result: WriteResult): FhirResponse {
    const v: StoredVersion = result.stored;
    const headers = versionHeaders(v);
    headers.Location = `${ctx.baseUrl}/${v.resourceType}/${v.id}/_history/${v.versionId}`;
    const status = result.created ? 201 : 200;
    switch (ctx.prefer.return) {
      case 'minimal':
        return { status, headers };
      case 'OperationOutcome':
        return {
          status,
          headers,
          body: operationOutcome([
            issue(
              'informational',
              `${result.created ? 'created' : 'updated'} ${v.resourceType}/${v.id} version ${v.versionId}`,
              undefined,
              'information',
            ),
          ]),
        };
      default:
        return { status, headers, body: v.content! };
    }
  }

  /** The request body as a resource of the URL's type (400 otherwise). */
  checkBody(resourceType: string, body: unknown): Resource {
    this.assertType(resourceType);
    if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) {
      throw badRequest('a resource is required in the request body');
    }
    if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object');
    const r = body as Resource;
    if (r.resourceType !== resourceType) {
      throw badRequest(`resourceType "${String(r.resourceType)}" does not match the URL type "${resourceType}"`, [
        'resourceType',
      ]);
    }
    return r;
  }
}

type ReadShaping = ReturnType<typeof readShaping>;

/** The stored text, subsetted by `_summary` / `_elements` when a read asked for it. */
function shaped(content: string, shaping: ReadShaping): string {
  return shaping ? shapeResource(content, shaping.summary, shaping.elements) : content;
}

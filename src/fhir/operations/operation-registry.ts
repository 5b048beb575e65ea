import { Injectable } from '@nestjs/common';
import type { OperationDefinition } from 'fhir/r4';
import type { Response } from 'express';
import { FhirError, notSupported } from '../errors';
import type { FhirResponse } from '../rest/fhir-response';
import type { RequestContext } from '../rest/request-context';

export type OperationLevel = 'system' | 'type' | 'instance';

export interface OperationCall {
  ctx: RequestContext;
  level: OperationLevel;
  resourceType?: string;
  id?: string;
  /** a historical version (`[type]/[id]/_history/[vid]/$name`): only for operations that serve `versions` */
  versionId?: string;
  /** query parameters as ordered pairs */
  params: [string, string][];
  /** POST body (Parameters or other), parsed */
  body?: unknown;
  /** the HTTP method (of the Bundle entry inside a batch) */
  method: string;
  /** the request's path and query under the base (`/Patient/$export?_type=…`) */
  url: string;
  /** the HTTP response, for the operations that write it themselves (streams); absent inside a batch */
  res?: Response;
}

/** What a `$name` URL names. */
export interface OperationTarget {
  /** the `$name` segment */
  segment: string;
  level: OperationLevel;
  resourceType?: string;
  id?: string;
  versionId?: string;
}

/** A FHIR operation (`$name`), one file per operation under fhir/operations. */
export interface FhirOperation {
  /** without the `$` */
  name: string;
  levels: OperationLevel[];
  /** resource types at type/instance level; undefined: all */
  resourceTypes?: string[];
  /** GET allowed when the operation does not change anything */
  affectsState: boolean;
  /** also served on a historical version of an instance (`[type]/[id]/_history/[vid]/$name`); else 405 there */
  versions?: boolean;
  /**
   * false: not run as a batch entry (it answers asynchronously, streams a file, or writes the HTTP
   * response itself); every other operation runs in a batch as over REST
   */
  inBundle?: boolean;
  definition: OperationDefinition;
  /** the FhirResponse, or undefined when the handler wrote the response itself (streams) */
  invoke(call: OperationCall): Promise<FhirResponse | undefined>;
}

/** Operations register here at module init; the REST controller dispatches `$name` URLs to them. */
@Injectable()
export class OperationRegistry {
  private readonly operations: FhirOperation[] = [];

  register(op: FhirOperation): void {
    this.operations.push(op);
  }

  find(name: string, level: OperationLevel, resourceType?: string): FhirOperation | undefined {
    return this.operations.find(
      (op) =>
        op.name === name &&
        op.levels.includes(level) &&
        (level === 'system' || !op.resourceTypes || op.resourceTypes.includes(resourceType!)),
    );
  }

  /**
   * The operation a request names, or the error it gets: 404 when none is served at that level and
   * type, 405 for GET on one that changes data (operations.html#request: POST only), 405 on a past
   * version for one that writes a new version (it works on the current one).
   */
  resolve(t: OperationTarget, method: string): FhirOperation {
    const name = t.segment.slice(1);
    const op = this.find(name, t.level, t.resourceType);
    if (!op) throw notSupported(404, `operation $${name} is not supported at ${t.level} level${t.resourceType ? ` on ${t.resourceType}` : ''}`);
    if (t.versionId !== undefined && !op.versions) {
      const err = FhirError.of(405, 'not-supported', `$${name} works on the current version (it writes a new one), not on _history/${t.versionId}`);
      err.headers.Allow = ''; // no method: RFC 9110 §10.2.1
      throw err;
    }
    if (method === 'GET' && op.affectsState) {
      const err = FhirError.of(405, 'not-supported', `$${name} changes data: use POST`);
      err.headers.Allow = 'POST';
      throw err;
    }
    return op;
  }

  all(): readonly FhirOperation[] {
    return this.operations;
  }
}

import { Injectable } from '@nestjs/common';
import type { OperationDefinition } from 'fhir/r4';
import type { Request, Response } from 'express';
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
  req: Request;
  res: Response;
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

  all(): readonly FhirOperation[] {
    return this.operations;
  }
}

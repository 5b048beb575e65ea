import type { Resource } from 'fhir/r4';
import type { ResourcePatch } from '../patch/resource-patch';
import type { FhirError } from '../errors';
import type { FhirResponse } from '../rest/fhir-response';
import type { StoredVersion } from '../storage/storage.types';

export type EntryMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Query parameters as ordered [name, value] pairs (repeats kept). */
export type Params = [string, string][];

/** One Bundle.entry (or one conditional REST interaction), parsed and checked. */
export interface EntryRequest {
  /** position in Bundle.entry (named in every error) */
  index: number;
  method: EntryMethod;
  /** request.url as sent */
  url: string;
  /** undefined for system-level GETs (`_history`, `metadata`, `?_type=`) */
  resourceType?: string;
  /** the id in `Type/id` */
  id?: string;
  /** path segments after `Type/id` (GET: `_history`, `_history/2`, compartment type) or after the base */
  rest: string[];
  /** query of the url: the condition of a conditional update/patch/delete, or search parameters */
  params: Params;
  fullUrl?: string;
  /** POST/PUT body */
  resource?: Resource;
  /** PATCH: a JSON Patch or a FHIRPath Patch */
  patch?: ResourcePatch;
  ifNoneExist?: Params;
  ifMatch?: number;
  ifNoneMatch?: number;
  ifModifiedSince?: Date;
}

/** What happened to one entry. */
export interface EntryOutcome {
  /** HTTP status of the entry */
  status: number;
  /** writes: the version written, or found (conditional create match, delete of a deleted resource) */
  version?: StoredVersion;
  /** conditional delete of several resources: how many were deleted */
  deletedCount?: number;
  /** GET/HEAD entries: the answer of the REST interaction */
  response?: FhirResponse;
  /** batch entries that failed */
  error?: FhirError;
}

export const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
  501: 'Not Implemented',
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ''}`.trim();
}

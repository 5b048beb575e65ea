import type { Request, Response } from 'express';
import type { StoredVersion } from '../storage/storage.types';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/**
 * What a FHIR interaction answers. `body` is either JSON text (stored
 * resources are served as stored, without parsing) or an object.
 */
export interface FhirResponse {
  status: number;
  body?: string | object;
  headers?: Record<string, string>;
}

export function versionHeaders(v: StoredVersion): Record<string, string> {
  return { ETag: `W/"${v.versionId}"`, 'Last-Modified': v.lastUpdated.toUTCString() };
}

/** Sends a FhirResponse, honouring `_pretty`. */
export function reply(req: Request, res: Response, r: FhirResponse): void {
  if (r.headers) for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  res.statusCode = r.status; // (not Express's res.status: the direct route answers on plain node:http objects)
  if (r.body === undefined) {
    res.end();
    return;
  }
  let text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
  if (isPretty(req)) text = JSON.stringify(JSON.parse(text), null, 2);
  res.setHeader('Content-Type', FHIR_JSON);
  res.end(text);
}

function isPretty(req: Request): boolean {
  const q = req.query?._pretty;
  return q === 'true' || (Array.isArray(q) && q.includes('true'));
}

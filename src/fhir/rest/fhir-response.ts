import type { Request, Response } from 'express';
import type { StoredVersion } from '../storage/storage.types';
import { asksFhirVersion } from './content-negotiation';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';
/** The answer's media type when the request named its FHIR version (http.html#version-parameter). */
export const FHIR_JSON_R4 = 'application/fhir+json; fhirVersion=4.0; charset=utf-8';

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

/** Sends a FhirResponse, honouring `_pretty` (and naming R4 in Content-Type when the request named a FHIR version). */
export function reply(req: Request, res: Response, r: FhirResponse): void {
  if (r.headers) for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  res.statusCode = r.status; // (not Express's res.status: the direct route answers on plain node:http objects)
  if (r.body === undefined) {
    res.end();
    return;
  }
  let text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
  if (isPretty(req)) text = JSON.stringify(JSON.parse(text), null, 2);
  res.setHeader('Content-Type', asksFhirVersion(req) ? FHIR_JSON_R4 : FHIR_JSON);
  res.end(text);
}

function isPretty(req: Request): boolean {
  const q = req.query?._pretty;
  return q === 'true' || (Array.isArray(q) && q.includes('true'));
}

import type { NextFunction, Request, Response } from 'express';
import { isBinaryPath } from '../binary/binary-http';
import { FhirError } from '../errors';
import { decodePairs } from './query-string';

const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];
const FORMAT_ALIASES = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);

/**
 * Media types accepted as request bodies, by method and path (below /fhir); Binary widens this.
 * A form body is a search (`POST [type]/_search`, http.html §3.1.0.8) or an operation's
 * parameters, never a resource: a create from form fields would store what no client meant.
 */
export function bodyTypeAllowed(method: string, contentType: string, path: string): boolean {
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (JSON_TYPES.includes(type)) return true;
  if (method === 'PATCH' && type === 'application/json-patch+json') return true;
  if (method === 'POST' && type === 'application/x-www-form-urlencoded') return path.endsWith('/_search') || path.includes('/$');
  return false;
}

/**
 * http.html §3.1.0.1.9 content types: JSON in and out; `_format` overrides
 * Accept; XML and other formats answer 406 (response) or 415 (request body).
 */
export function contentNegotiation(req: Request, res: Response, next: NextFunction): void {
  const format = firstQueryValue(req, '_format');
  if (format !== undefined) {
    if (!FORMAT_ALIASES.has(format.toLowerCase())) {
      return next(FhirError.of(406, 'not-supported', `_format "${format}" is not supported; use json`));
    }
  } else if (!acceptsJson(req.headers.accept) && !(req.method === 'GET' && (isBinaryPath(req.path) || isNdjsonDownload(req.path)))) {
    // (a Binary read answers the document in its own type: http.html#binary; export files are NDJSON)
    return next(FhirError.of(406, 'not-supported', `cannot answer in ${req.headers.accept}; use application/fhir+json`));
  }
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && ['POST', 'PUT', 'PATCH'].includes(req.method)) {
    const ct = req.headers['content-type'];
    // Binary create/update takes the document in any Content-Type (http.html#binary)
    if (!(req.method !== 'PATCH' && isBinaryPath(req.path)) && (!ct || !bodyTypeAllowed(req.method, ct, req.path))) {
      return next(FhirError.of(415, 'not-supported', `content type "${ct ?? ''}" is not supported`));
    }
  }
  next();
}

/** Bulk Data export files are served as application/fhir+ndjson. */
function isNdjsonDownload(path: string): boolean {
  return path === '/$export-file' || path === '/fhir/$export-file';
}

function acceptsJson(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((part) => {
    const t = part.split(';')[0].trim().toLowerCase();
    return t === '*/*' || t === 'application/*' || JSON_TYPES.includes(t) || t === 'text/html' || t === 'text/*';
  });
}

function firstQueryValue(req: Request, name: string): string | undefined {
  const v = req.query?.[name];
  if (Array.isArray(v)) return String(v[0]);
  return v === undefined ? undefined : String(v);
}

/** The query string as ordered [name, value] pairs, repeats kept (search needs them all). */
export function queryPairs(req: Request): [string, string][] {
  const i = req.originalUrl.indexOf('?');
  if (i < 0) return [];
  return decodePairs(req.originalUrl.slice(i + 1));
}

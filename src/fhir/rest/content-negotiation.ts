import type { NextFunction, Request, Response } from 'express';
import { isBinaryPath } from '../binary/binary-http';
import { FhirError } from '../errors';
import { decodePairs } from './query-string';

const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];
const FORMAT_ALIASES = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);
/**
 * The `fhirVersion` media type parameter values this server answers (http.html#version-parameter):
 * R4 only, as major.minor (`4.0`) or a release of R4 (`4.0.0`, `4.0.1`).
 */
const R4_VERSIONS = new Set(['4.0', '4.0.0', '4.0.1']);

/** The `fhirVersion` parameter of a media type (`application/fhir+json; fhirVersion=4.0`); undefined when absent. */
export function fhirVersionParam(mediaType: string): string | undefined {
  for (const param of mediaType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq > 0 && param.slice(0, eq).trim().toLowerCase() === 'fhirversion') return param.slice(eq + 1).trim().replace(/^"|"$/g, '');
  }
  return undefined;
}

/** A media type naming a FHIR version other than R4. */
function otherVersion(mediaType: string): boolean {
  const v = fhirVersionParam(mediaType);
  return v !== undefined && !R4_VERSIONS.has(v);
}

function r4Only(status: 406 | 415, what: string): FhirError {
  return FhirError.of(status, 'not-supported', `${what} names a FHIR version other than R4; this server speaks FHIR R4 only (fhirVersion=4.0)`);
}

/** Did the request name its FHIR version (Accept or `_format`)? The answer's Content-Type then names it too. */
export function asksFhirVersion(req: Pick<Request, 'headers' | 'query'>): boolean {
  const format = firstQueryValue(req, '_format');
  const asked = format !== undefined ? [format] : (req.headers.accept ?? '').split(',');
  return asked.some((t) => fhirVersionParam(t) !== undefined);
}

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
 * A `fhirVersion` parameter other than R4's (http.html#version-parameter) is
 * 406 in Accept or `_format`, 415 on the request body.
 */
export function contentNegotiation(req: Request, res: Response, next: NextFunction): void {
  const format = firstQueryValue(req, '_format');
  if (format !== undefined) {
    if (otherVersion(format)) return next(r4Only(406, `_format "${format}"`));
    if (!FORMAT_ALIASES.has(format.split(';')[0].trim().toLowerCase())) {
      return next(FhirError.of(406, 'not-supported', `_format "${format}" is not supported; use json`));
    }
  } else if (req.headers.accept && req.headers.accept.split(',').every(otherVersion)) {
    return next(r4Only(406, `Accept "${req.headers.accept}"`));
  } else if (!acceptsJson(req.headers.accept) && !(req.method === 'GET' && (isBinaryPath(req.path) || isNdjsonDownload(req.path)))) {
    // (a Binary read answers the document in its own type: http.html#binary; export files are NDJSON)
    return next(FhirError.of(406, 'not-supported', `cannot answer in ${req.headers.accept}; use application/fhir+json`));
  }
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && ['POST', 'PUT', 'PATCH'].includes(req.method)) {
    const ct = req.headers['content-type'];
    if (ct && otherVersion(ct)) return next(r4Only(415, `content type "${ct}"`));
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
    if (otherVersion(part)) return false;
    const t = part.split(';')[0].trim().toLowerCase();
    return t === '*/*' || t === 'application/*' || JSON_TYPES.includes(t) || t === 'text/html' || t === 'text/*';
  });
}

function firstQueryValue(req: Pick<Request, 'query'>, name: string): string | undefined {
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

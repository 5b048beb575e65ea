import type { Request } from 'express';

/** Request bodies that are the Binary *resource* (FHIR JSON); anything else is the raw document. */
const FHIR_BODY_TYPES = ['application/fhir+json', 'application/json+fhir', 'application/json'];
/** Accept / _format values that ask for the Binary resource rather than the raw document. */
const FHIR_ACCEPT_TYPES = ['application/fhir+json', 'application/json+fhir', 'application/json', 'json'];

function mediaType(value: string | undefined): string {
  return (value ?? '').split(';')[0].trim().toLowerCase();
}

/** `/Binary`, `/Binary/{id}` or `/Binary/{id}/_history/{vid}` (relative to /fhir, or absolute). */
export function isBinaryPath(path: string): boolean {
  return /^(\/fhir)?\/Binary(\/[^/$][^/]*(\/_history\/[^/]+)?)?\/?$/.test(path);
}

export function isFhirBody(contentType: string | undefined): boolean {
  return FHIR_BODY_TYPES.includes(mediaType(contentType));
}

/**
 * http.html#binary: a create or update of Binary whose Content-Type is not a
 * FHIR type carries the document itself. Such bodies bypass the body parsers
 * and are streamed into storage.
 */
export function isRawBinaryUpload(req: Request): boolean {
  return (req.method === 'POST' || req.method === 'PUT') && isBinaryPath(req.path) && !isFhirBody(req.headers['content-type']);
}

/**
 * http.html#binary: a read answers the Binary resource when `_format` or
 * Accept names a FHIR (JSON) type, and the document in its own Content-Type
 * otherwise (browsers, `*` / `*`, `application/pdf`, no Accept).
 */
export function wantsFhirResource(req: Request): boolean {
  const format = req.query?._format;
  if (format !== undefined) return true;
  const accept = req.headers.accept;
  if (!accept) return false;
  return accept.split(',').some((part) => FHIR_ACCEPT_TYPES.includes(mediaType(part)));
}

/** Incremental base64: bytes in, base64 text out, carrying the 0-2 bytes that do not fill a group. */
export class Base64Stream {
  private carry = Buffer.alloc(0);

  push(bytes: Buffer): string {
    const all = this.carry.length ? Buffer.concat([this.carry, bytes]) : bytes;
    const whole = all.length - (all.length % 3);
    this.carry = Buffer.from(all.subarray(whole));
    return all.subarray(0, whole).toString('base64');
  }

  end(): string {
    const text = this.carry.toString('base64');
    this.carry = Buffer.alloc(0);
    return text;
  }
}

/** Length of the base64 text of `size` bytes. */
export function base64Length(size: number): number {
  return Math.ceil(size / 3) * 4;
}

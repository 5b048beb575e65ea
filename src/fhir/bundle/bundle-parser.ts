import type { Bundle, BundleEntry, Resource } from 'fhir/r4';
import { badRequest, FhirError, notFound } from '../errors';
import { READ_ONLY_TYPES } from '../rest/allowed-methods';
import { assertFhirId } from '../fhir-id';
import { parseETagVersion } from '../rest/request-context';
import type { EntryMethod, EntryRequest, Params } from './bundle.types';
import { parseQuery } from './conditions';
import { entryOperation } from './entry-operation';
import { readPatch } from '../patch/resource-patch';

const METHODS = new Set<EntryMethod>(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

export interface ParsedBundle {
  type: 'transaction' | 'batch';
  entries: EntryRequest[];
}

export interface ParseOptions {
  baseUrl: string;
  maxEntries: number;
  isResourceType(name: string): boolean;
}

/**
 * Checks a `POST [base]` body (http.html §3.1.0.11 batch/transaction) and
 * parses every entry's request. Errors name the entry (`Bundle.entry[3]`).
 * Per-entry errors of a batch are kept with the entry instead of thrown.
 */
export function parseBundle(body: unknown, opts: ParseOptions): ParsedBundle & { errors: Map<number, FhirError> } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('a Bundle is required in the request body');
  const bundle = body as Bundle;
  if (bundle.resourceType !== 'Bundle') {
    throw badRequest(`POST to the base accepts a Bundle, not ${JSON.stringify(bundle.resourceType)}`, ['resourceType']);
  }
  if (bundle.type !== 'transaction' && bundle.type !== 'batch') {
    throw badRequest(`Bundle.type must be transaction or batch, not ${JSON.stringify(bundle.type)}`, ['Bundle.type']);
  }
  const raw = bundle.entry ?? [];
  if (!Array.isArray(raw)) throw badRequest('Bundle.entry must be an array', ['Bundle.entry']);
  if (raw.length > opts.maxEntries) {
    throw FhirError.of(413, 'too-costly', `the Bundle has ${raw.length} entries; at most ${opts.maxEntries} are accepted`, [
      'Bundle.entry',
    ]);
  }
  const entries: EntryRequest[] = [];
  const errors = new Map<number, FhirError>();
  raw.forEach((e, i) => {
    try {
      entries.push(parseEntry(e, i, opts));
    } catch (err) {
      if (!(err instanceof FhirError)) throw err;
      const named = entryError(i, err);
      if (bundle.type === 'transaction') throw named;
      errors.set(i, named);
    }
  });
  return { type: bundle.type, entries, errors };
}

/** An error of entry i: diagnostics and expressions say which entry. */
export function entryError(index: number, err: FhirError): FhirError {
  const prefix = `Bundle.entry[${index}]`;
  if (err.issues.some((i) => i.diagnostics?.startsWith(prefix))) return err;
  const issues = err.issues.map((i) => ({
    ...i,
    diagnostics: `${prefix}: ${i.diagnostics ?? i.code}`,
    expression: (i.expression?.length ? i.expression : ['']).map((x) =>
      x.startsWith('Bundle.') ? x : x ? `${prefix}.resource.${x.replace(/^[A-Z][A-Za-z]+\./, '')}` : prefix,
    ),
  }));
  return new FhirError(err.status, issues, err.headers);
}

function parseEntry(e: BundleEntry | undefined, index: number, opts: ParseOptions): EntryRequest {
  if (!e || typeof e !== 'object') throw badRequest('an entry must be an object');
  const req = e.request;
  if (!req || typeof req !== 'object') throw badRequest('entry.request is required in a batch or transaction', ['Bundle.entry.request']);
  const method = String(req.method ?? '').toUpperCase() as EntryMethod;
  if (!METHODS.has(method)) throw badRequest(`request.method ${JSON.stringify(req.method)} is not GET, HEAD, POST, PUT, PATCH or DELETE`);
  if (typeof req.url !== 'string' || !req.url.trim()) throw badRequest('request.url is required');
  const entry: EntryRequest = { index, method, url: req.url, rest: [], params: [], fullUrl: e.fullUrl };
  parseUrl(entry, req.url, opts);
  const operation = entryOperation(entry); // a `$` segment only where an operation URL has it
  if (method === 'GET' || method === 'HEAD') {
    entry.ifNoneMatch = parseETagVersion(req.ifNoneMatch, 'ifNoneMatch');
    if (req.ifModifiedSince) {
      const d = new Date(req.ifModifiedSince);
      if (Number.isNaN(d.getTime())) throw badRequest('ifModifiedSince must be an instant');
      entry.ifModifiedSince = d;
    }
    return entry;
  }
  if (method === 'POST' && operation) {
    // an operation's input: Parameters, or the resource itself where the operation takes one ($validate)
    const input = e.resource as Resource | undefined;
    if (input !== undefined && (!input || typeof input !== 'object' || Array.isArray(input) || typeof input.resourceType !== 'string')) {
      throw badRequest('entry.resource of an operation must be a resource (Parameters, or the resource the operation takes)', ['Bundle.entry.resource']);
    }
    entry.resource = input;
    return entry;
  }
  if (!entry.resourceType) throw badRequest(`${method} needs a resource type in request.url`);
  if (!opts.isResourceType(entry.resourceType)) throw notFound(`unknown resource type "${entry.resourceType}"`);
  // a type served read-only from its own store (the audit trail): every write entry is refused as over REST
  if (READ_ONLY_TYPES.has(entry.resourceType)) throw FhirError.of(405, 'not-supported', `${method} is not allowed on ${entry.resourceType}: it is read-only`);
  if (entry.rest.length) throw badRequest(`${method} ${req.url} is not a valid interaction`);
  entry.ifMatch = parseETagVersion(req.ifMatch, 'ifMatch');
  if (method === 'POST') {
    if (entry.id !== undefined || entry.params.length) throw badRequest('POST request.url must be a resource type');
    entry.resource = checkResource(e.resource, entry.resourceType);
    if (req.ifNoneExist) {
      entry.ifNoneExist = parseQuery(req.ifNoneExist);
      if (!entry.ifNoneExist.length) throw badRequest('ifNoneExist has no search parameters');
    }
    return entry;
  }
  requireTarget(entry);
  if (method === 'PUT') {
    entry.resource = checkResource(e.resource, entry.resourceType);
    if (entry.id !== undefined && entry.resource.id !== entry.id) {
      throw badRequest(`resource id ${JSON.stringify(entry.resource.id)} does not match the id in request.url "${entry.id}"`, [
        'id',
      ]);
    }
  } else if (method === 'PATCH') {
    entry.patch = readPatch(e.resource);
  }
  return entry;
}

/** Splits `[base/]Type[/id[/more]][?query]` into the entry's resourceType, id, rest and params. */
function parseUrl(entry: EntryRequest, url: string, opts: ParseOptions): void {
  let u = url.trim();
  if (/^https?:\/\//i.test(u)) {
    if (!u.startsWith(opts.baseUrl + '/') && u !== opts.baseUrl && !u.startsWith(opts.baseUrl + '?')) {
      throw badRequest(`request.url ${u} is not on this server`);
    }
    u = u.slice(opts.baseUrl.length);
  }
  const qm = u.indexOf('?');
  let path: string[];
  try {
    path = (qm >= 0 ? u.slice(0, qm) : u).split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw badRequest(`request.url ${u} is not a valid URL`);
  }
  entry.params = qm >= 0 ? parseQuery(u.slice(qm + 1)) : [];
  if (path.length && /^[A-Z]/.test(path[0])) {
    entry.resourceType = path.shift();
    if (path.length && !path[0].startsWith('_') && !path[0].startsWith('$')) entry.id = path.shift();
  }
  entry.rest = path;
  if (entry.id !== undefined) assertFhirId(entry.id);
}

function requireTarget(entry: EntryRequest): void {
  if (entry.id === undefined && !entry.params.length) {
    throw badRequest(`${entry.method} needs Type/id or Type?search in request.url`);
  }
  if (entry.id !== undefined && entry.params.length) throw badRequest(`${entry.method} request.url has both an id and search parameters`);
}

function checkResource(r: unknown, resourceType: string): Resource {
  if (!r || typeof r !== 'object' || Array.isArray(r)) throw badRequest('entry.resource is required');
  const res = r as Resource;
  if (res.resourceType !== resourceType) {
    throw badRequest(`resourceType ${JSON.stringify(res.resourceType)} does not match request.url type "${resourceType}"`, [
      'resourceType',
    ]);
  }
  return res;
}

export type { Params };

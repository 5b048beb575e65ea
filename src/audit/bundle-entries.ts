import type { AuditRecord } from './audit.types';
import { auditVersion, failureDescription } from './audit-values';
import { classifyRequest, patientsInBody } from './http-interaction';

const READ_METHODS = new Set(['GET', 'HEAD']);
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * AuditEvents for the entries of a batch or transaction (http.html
 * §3.1.0.11) that no write statement recorded: one per GET/HEAD entry, and
 * one per write entry of a batch-response that failed (refused by the
 * token's scopes — then a Security Alert `access-denied` like a refused
 * HTTP request — or invalid, conflicting, …; nothing was written), from the
 * request entry and the matching response entry (same position). A DELETE
 * of an id that never existed (answered 204, http.html#delete) wrote no
 * version either: it is recorded here, as the HTTP DELETE is by its response.
 * Operation entries of a batch (`POST Observation/$validate`) are recorded
 * like GET entries, whatever their method: as the operation. Successful
 * writes are recorded by their write statement (`AuditService.writeExtras`;
 * also a version an operation writes, `$meta-add`), the Bundle itself by
 * the caller.
 */
export function bundleEntryEvents(bundleEvent: AuditRecord, requestBody: unknown, responseText: string | undefined, base: string): AuditRecord[] {
  const entries = (requestBody as { resourceType?: string; entry?: unknown[] } | undefined)?.entry;
  if ((requestBody as any)?.resourceType !== 'Bundle' || !Array.isArray(entries)) return [];
  const methodOf = (e: any) => String(e?.request?.method).toUpperCase();
  // a transaction that succeeded has no failed entry: without reads or deletes there is nothing to add (and no response to parse)
  if ((requestBody as any).type === 'transaction' && !entries.some((e) => READ_METHODS.has(methodOf(e)) || methodOf(e) === 'DELETE')) return [];
  let response: any;
  try {
    response = responseText ? JSON.parse(responseText) : undefined;
  } catch {
    response = undefined;
  }
  const statusOf = (i: number) => Number.parseInt(String(response?.entry?.[i]?.response?.status ?? ''), 10) || 200;
  const audited = entries.flatMap((e: any, i) =>
    READ_METHODS.has(methodOf(e)) || isOperation(e) || statusOf(i) >= 400 || deletedNothing(e, response?.entry?.[i]) ? [i] : [],
  );
  return audited.map((i) => {
    const request = (entries[i] as any)?.request;
    const method = methodOf(entries[i]);
    const answer = response?.entry?.[i];
    const [path, query = ''] = localUrl(String(request?.url ?? '').trim()).split('?', 2);
    // an entry with no interaction to name (not an object, no known request.method) is recorded as a failed entry of its Bundle
    const what = KNOWN_METHODS.has(method)
      ? classifyRequest(READ_METHODS.has(method) ? 'GET' : method, path, query, undefined, base)
      : { subtype: bundleEvent.subtype, action: bundleEvent.action, patient: [] as string[] };
    const status = statusOf(i);
    const event: AuditRecord = Object.assign({}, bundleEvent, {
      subtype: what.subtype,
      action: what.action,
      outcome: status < 400 ? 0 : status < 500 ? 4 : 8,
      outcomeDesc: undefined,
      entityType: what.entityType,
      entityId: what.entityId,
      entityVersion: what.entityVersion ?? etagVersion(answer?.response?.etag),
      query: what.query,
      patient: what.patient,
    });
    if (status === 403) {
      // refused by the scopes: a security alert as well as the interaction (as for a refused HTTP request)
      event.type = '110113';
      event.subtype = ['access-denied', ...what.subtype];
    }
    if (status >= 400) {
      event.outcomeDesc = failureDescription(status, answer?.response?.outcome?.issue);
    } else if (answer?.resource) {
      event.patient = [...new Set([...event.patient, ...patientsInBody(JSON.stringify(answer.resource), base)])];
    }
    return event;
  });
}

/** An entry whose request.url names an operation (`…/$name`, before any query). */
function isOperation(entry: any): boolean {
  return /(?:^|\/)\$[^/?]*(?:\?|$)/.test(String(entry?.request?.url ?? ''));
}

/** A successful DELETE of one instance with no version to name (the id never existed: nothing written, no ETag). */
function deletedNothing(entry: any, answer: any): boolean {
  const url = String(entry?.request?.url ?? '');
  return String(entry?.request?.method).toUpperCase() === 'DELETE' && !url.includes('?') && !!answer?.response && !answer.response.etag && Number.parseInt(String(answer.response.status), 10) < 400;
}

/** `http://host/fhir/Patient/1` or `Patient/1` → `/Patient/1` */
function localUrl(url: string): string {
  const abs = /^https?:\/\/[^/]+(?:\/.*?)?\/fhir(\/.*)$/.exec(url);
  const rel = abs ? abs[1] : url;
  return rel.startsWith('/') ? rel : `/${rel}`;
}

function etagVersion(etag: unknown): number | undefined {
  const m = typeof etag === 'string' ? /^(?:W\/)?"([0-9]+)"$/.exec(etag) : null;
  return m ? auditVersion(m[1]) : undefined;
}

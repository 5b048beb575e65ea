import { randomUUID } from 'crypto';
import type { AuditEvent } from 'fhir/r4';
import type { TestApp } from '../helpers/test-app';

/** A request id to tag a request with, so its AuditEvents can be found. */
export function rid(): string {
  return `t-${randomUUID()}`;
}

/** The AuditEvents recorded for a request (by X-Request-Id), served by GET /fhir/AuditEvent/{id}. */
export async function eventsOf(t: TestApp, requestId: string): Promise<AuditEvent[]> {
  const r = await t.db.query('SELECT id FROM audit_event WHERE request_id = $1 ORDER BY recorded, id', [requestId]);
  const out: AuditEvent[] = [];
  for (const row of r.rows) {
    const res = await t.http.get(`/fhir/AuditEvent/${row.id}`);
    if (res.status !== 200) throw new Error(`AuditEvent/${row.id}: ${res.status}`);
    out.push(res.body);
  }
  return out;
}

/** The one AuditEvent of a request. */
export async function eventOf(t: TestApp, requestId: string): Promise<AuditEvent> {
  const events = await eventsOf(t, requestId);
  if (events.length !== 1) throw new Error(`expected one AuditEvent for ${requestId}, found ${events.length}`);
  return events[0];
}

export const subtypes = (e: AuditEvent) => (e.subtype ?? []).map((c) => c.code);
export const entityRefs = (e: AuditEvent) => (e.entity ?? []).map((x) => x.what?.reference).filter(Boolean);
export const patientRefs = (e: AuditEvent) =>
  (e.entity ?? []).filter((x) => x.role?.code === '1').map((x) => x.what?.reference);
export const queryOf = (e: AuditEvent) => {
  const q = (e.entity ?? []).find((x) => x.query)?.query;
  return q === undefined ? undefined : Buffer.from(q, 'base64').toString('utf8');
};
export const requestIdOf = (e: AuditEvent) => (e.entity ?? []).find((x) => x.type?.code === 'XrequestId')?.what?.identifier?.value;

import { Inject, Injectable } from '@nestjs/common';
import type { BundleLink } from 'fhir/r4';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Database, type Queryable } from '../database/database';
import { bundleJson } from '../fhir/bundle-json';
import { FhirDefinitions } from '../fhir/definitions/definitions.module';
import { FhirError, issue, notFound } from '../fhir/errors';
import type { FhirResponse } from '../fhir/rest/fhir-response';
import type { RequestContext } from '../fhir/rest/request-context';
import { SqlParams } from '../fhir/storage/sql-params';
import { auditAccess, type AuditAccess } from './audit-access';
import { toAuditEvent } from './audit-event.resource';
import { parseAuditSearch } from './audit-search';
import { AuditRepository } from './audit.repository';
import type { AuditRow } from './audit-chain';

/** The focal resource of a compartment search (`Patient/1/AuditEvent`). */
export interface Compartment {
  type: string;
  id: string;
}

/**
 * AuditEvent over the REST API: read, vread and search of the audit trail,
 * within what the caller's authorization allows (`auditAccess`). The trail
 * is written only by the server itself.
 */
@Injectable()
export class AuditEventService {
  private readonly repo = new AuditRepository();
  private readonly baseUrl: string;

  constructor(
    private readonly db: Database,
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly definitions: FhirDefinitions,
  ) {
    this.baseUrl = config.fhirBaseUrl;
  }

  /** `q`: a transaction's connection, for its GET entries (the embedded database has one session) */
  async read(ctx: RequestContext, id: string, versionId?: string, q: Queryable = this.db): Promise<FhirResponse> {
    const p = new SqlParams();
    const access = auditAccess(ctx.auth, 'r', p);
    const row = await this.repo.read(q, id, access?.where, p.values, fullViewColumn(access));
    if (!row || (versionId !== undefined && versionId !== '1')) {
      throw notFound(`AuditEvent/${id}${versionId !== undefined ? `/_history/${versionId}` : ''} is not known`);
    }
    return {
      status: 200,
      body: JSON.stringify(toAuditEvent(row, this.baseUrl, patientViewOf(row, access))),
      headers: { ETag: 'W/"1"', 'Last-Modified': new Date(row.recorded).toUTCString() },
    };
  }

  /**
   * search-type, and compartment search (`Patient/x/AuditEvent`, `Practitioner/x/AuditEvent`): newest
   * first unless `_sort=date`, keyset paged.
   */
  async search(ctx: RequestContext, params: [string, string][], compartment?: Compartment, q: Queryable = this.db): Promise<FhirResponse> {
    const p = new SqlParams();
    const member = compartment && this.compartmentCriterion(compartment);
    const all: [string, string][] = member ? [member, ...params] : params;
    const access = auditAccess(ctx.auth, 's', p);
    const query = parseAuditSearch(all, p, ctx.prefer.handling === 'lenient', access?.patient ? { patient: access.patient, full: access.full } : undefined);
    if (access) query.where.push(access.where);
    if (member === null) query.where.push('false');
    const path = compartment ? `${compartment.type}/${compartment.id}/AuditEvent` : 'AuditEvent';
    const link: BundleLink[] = [{ relation: 'self', url: this.url(path, member ? query.applied.slice(1) : query.applied) }];
    const total = query.total || query.summaryCount ? await this.repo.count(q, query.where, p.values) : undefined;
    if (query.summaryCount) return { status: 200, body: bundleJson({ type: 'searchset', total, link, entry: [] }) };
    const rows = query.count === 0 ? [] : await this.repo.search(q, query.where, p.values, query.count + 1, query.ascending, fullViewColumn(access));
    const page = rows.slice(0, query.count);
    if (rows.length > query.count) {
      const last: AuditRow = page[page.length - 1];
      const cursor = Buffer.from(JSON.stringify([last.recorded, last.id, query.ascending ? 'asc' : 'desc'])).toString('base64url');
      const next = params.filter(([k]) => k !== '_cursor');
      next.push(['_cursor', cursor]);
      link.push({ relation: 'next', url: this.url(path, next) });
    }
    const entry: any[] = page.map((row) => ({
      fullUrl: `${this.baseUrl}/AuditEvent/${row.id}`,
      resource: JSON.stringify(toAuditEvent(row, this.baseUrl, patientViewOf(row, access))),
      search: { mode: 'match' },
    }));
    if (query.ignored.length) {
      entry.push({
        resource: {
          resourceType: 'OperationOutcome',
          issue: [issue('not-supported', `ignored search parameters: ${query.ignored.join(', ')}`, undefined, 'warning')],
        },
        search: { mode: 'outcome' },
      });
    }
    return { status: 200, body: bundleJson({ type: 'searchset', total, link, entry }) };
  }

  /**
   * AuditEvent's membership of a compartment as one of the trail's parameters: the CompartmentDefinition's
   * parameter (`patient` for Patient, `agent` for Practitioner and Device) naming the focal resource; null
   * when AuditEvent is not in that compartment (Encounter, RelatedPerson: an empty searchset).
   */
  private compartmentCriterion(c: Compartment): [string, string] | null {
    const members = this.definitions.data.compartments[c.type];
    if (!members) {
      if (!this.definitions.isResourceType(c.type)) throw notFound(`unknown resource type "${c.type}"`);
      throw FhirError.of(400, 'not-supported', `the ${c.type} compartment is not supported`);
    }
    const params = members.AuditEvent ?? [];
    if (params.length > 1) throw FhirError.of(400, 'not-supported', `AuditEvent in the ${c.type} compartment by ${params.join(' or ')} is not supported`);
    return params.length ? [params[0], `${c.type}/${c.id}`] : null;
  }

  private url(path: string, params: [string, string][]): string {
    const qs = new URLSearchParams(params).toString();
    return `${this.baseUrl}/${path}${qs ? `?${qs}` : ''}`;
  }
}

/** The select-list column telling, per row, whether a patient-view caller sees it in full (audit-access.ts). */
function fullViewColumn(access: AuditAccess | undefined): string {
  return access?.patient ? `, coalesce(${access.full ?? 'false'}, false) AS full_view` : '';
}

/** The Patient whose own event a row is shown as, or undefined when it is shown in full. */
function patientViewOf(row: AuditRow & { full_view?: boolean }, access: AuditAccess | undefined): string | undefined {
  return access?.patient && !row.full_view ? access.patient : undefined;
}

import { Injectable } from '@nestjs/common';
import type { OperationDefinition } from 'fhir/r4';
import { notSupported } from '../errors';
import { ExportService } from '../export/export.service';
import type { FhirResponse } from '../rest/fhir-response';
import type { FhirOperation, OperationCall } from './operation-registry';

/**
 * The status URL of a Bulk Data export (`[base]/$export-poll-status?_jobId=…`,
 * the name HAPI uses): GET polls (202 + X-Progress, then 200 with the
 * manifest as application/json, or an OperationOutcome on failure), DELETE
 * cancels (202; later polls answer 404).
 */
@Injectable()
export class ExportPollStatusOperation implements FhirOperation {
  readonly name = 'export-poll-status';
  readonly levels: FhirOperation['levels'] = ['system'];
  readonly affectsState = false;
  /** it writes the manifest (plain JSON) to the HTTP response itself */
  readonly inBundle = false;
  readonly definition: OperationDefinition = {
    resourceType: 'OperationDefinition',
    id: 'export-poll-status',
    url: 'urn:fhir-r4-server:OperationDefinition:export-poll-status', // not an HL7 operation: the status URL of an export
    name: 'BulkDataExportPollStatus',
    status: 'active',
    kind: 'operation',
    code: 'export-poll-status',
    system: true,
    type: false,
    instance: false,
    parameter: [{ name: '_jobId', use: 'in', min: 1, max: '1', type: 'string' }],
  };

  constructor(private readonly exports: ExportService) {}

  async invoke(call: OperationCall): Promise<FhirResponse | undefined> {
    const jobId = call.params.find(([k]) => k === '_jobId')?.[1];
    if (call.method === 'DELETE') return this.exports.cancel(call.ctx, jobId);
    if (call.method !== 'GET') throw notSupported(405, 'poll the export status with GET, cancel it with DELETE');
    const r = await this.exports.status(call.ctx, jobId);
    if (r.status !== 200) return r;
    // the manifest is plain JSON, not a FHIR resource
    call.res!.status(200).set(r.headers).type('application/json').send(JSON.stringify(r.body));
    return undefined;
  }
}

import { Injectable } from '@nestjs/common';
import type { OperationDefinition } from 'fhir/r4';
import { notSupported } from '../errors';
import { ExportService, parametersBody } from '../export/export.service';
import type { FhirResponse } from '../rest/fhir-response';
import type { FhirOperation, OperationCall } from './operation-registry';

const param = (name: string, type: string, max = '1', use: 'in' | 'out' = 'in') => ({ name, use, min: 0, max, type: type as any });

/**
 * Bulk Data Access 2.0 `$export` kick-off (hl7.org/fhir/uv/bulkdata/export.html):
 * system level (`[base]/$export`), all patients (`[base]/Patient/$export`)
 * and a Group (`[base]/Group/{id}/$export`); GET or POST (Parameters).
 * Answers 202 with the status URL in Content-Location.
 */
@Injectable()
export class ExportOperation implements FhirOperation {
  readonly name = 'export';
  readonly levels: FhirOperation['levels'] = ['system', 'type', 'instance'];
  readonly resourceTypes = ['Patient', 'Group'];
  /** a kick-off only starts a job: GET is allowed by the Bulk Data specification */
  readonly affectsState = false;
  /** its kick-off answers asynchronously (202 and a status URL): not a batch entry */
  readonly inBundle = false;
  readonly definition: OperationDefinition = {
    resourceType: 'OperationDefinition',
    id: 'export',
    url: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export',
    name: 'BulkDataExport',
    status: 'active',
    kind: 'operation',
    code: 'export',
    resource: ['Patient', 'Group'],
    system: true,
    type: true,
    instance: true,
    parameter: [
      param('_outputFormat', 'string'),
      param('_since', 'instant'),
      param('_type', 'string', '*'),
      param('_typeFilter', 'string', '*'),
      param('patient', 'Reference', '*'),
    ],
  };

  constructor(private readonly exports: ExportService) {}

  invoke(call: OperationCall): Promise<FhirResponse> {
    if (call.level === 'type' && call.resourceType !== 'Patient') throw notAtLevel();
    if (call.level === 'instance' && call.resourceType !== 'Group') throw notAtLevel();
    const level = call.level === 'system' ? 'system' : call.level === 'type' ? 'patient' : 'group';
    const params = call.method === 'POST' ? [...call.params, ...parametersBody(call.body)] : call.params;
    return this.exports.kickOff(call.ctx, {
      level,
      groupId: call.id,
      params,
      request: `${call.ctx.baseUrl}${call.url}`,
    });
  }
}

const notAtLevel = () => notSupported(404, '$export runs at system level, on Patient (all patients) and on a Group instance');

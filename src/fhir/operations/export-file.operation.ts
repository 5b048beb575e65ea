import * as fs from 'fs';
import { pipeline } from 'stream/promises';
import { Injectable } from '@nestjs/common';
import type { OperationDefinition } from 'fhir/r4';
import { notFound } from '../errors';
import { ExportService } from '../export/export.service';
import type { FhirOperation, OperationCall } from './operation-registry';

/**
 * Download of one NDJSON file of a completed export
 * (`[base]/$export-file?_jobId=…&_file=…`, the `url` of a manifest entry):
 * streamed from DATA_DIR as application/fhir+ndjson, only to the client that
 * kicked the export off.
 */
@Injectable()
export class ExportFileOperation implements FhirOperation {
  readonly name = 'export-file';
  readonly levels: FhirOperation['levels'] = ['system'];
  readonly affectsState = false;
  /** it streams the file to the HTTP response */
  readonly inBundle = false;
  readonly definition: OperationDefinition = {
    resourceType: 'OperationDefinition',
    id: 'export-file',
    url: 'urn:fhir-r4-server:OperationDefinition:export-file', // not an HL7 operation: the file URLs of a manifest
    name: 'BulkDataExportFile',
    status: 'active',
    kind: 'operation',
    code: 'export-file',
    system: true,
    type: false,
    instance: false,
    parameter: [
      { name: '_jobId', use: 'in', min: 1, max: '1', type: 'string' },
      { name: '_file', use: 'in', min: 1, max: '1', type: 'string' },
    ],
  };

  constructor(private readonly exports: ExportService) {}

  async invoke(call: OperationCall): Promise<undefined> {
    const get = (name: string) => call.params.find(([k]) => k === name)?.[1];
    const file = await this.exports.filePath(call.ctx, get('_jobId'), get('_file'));
    const stat = await fs.promises.stat(file).catch(() => undefined);
    if (!stat) throw notFound('the export file is gone (expired)');
    const res = call.res!;
    res.status(200);
    res.setHeader('Content-Type', 'application/fhir+ndjson');
    res.setHeader('Content-Length', String(stat.size));
    await pipeline(fs.createReadStream(file), res);
    return undefined;
  }
}

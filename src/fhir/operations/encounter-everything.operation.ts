import { Injectable } from '@nestjs/common';
import type { OperationDefinition } from 'fhir/r4';
import { EverythingOperation, RECORD_PARAMETERS, RecordKind } from './everything.operation';

/**
 * `Encounter/[id]/$everything` (R4 OperationDefinition Encounter-everything, "Fetch Encounter Record"):
 * the Encounter and every resource in its compartment (R4 CompartmentDefinition-encounter: what refers
 * to it by `encounter`, `context`…), plus any resource those refer to (the Patient, Practitioners,
 * Locations, Organizations, orders… "any resource referenced by the above"), as the token may read
 * them; `_since`, `_type` and `_count` as for Patient/$everything, the same keyset pages.
 */
@Injectable()
export class EncounterEverythingOperation extends EverythingOperation {
  protected override readonly kind: RecordKind = { compartment: 'Encounter', referenced: ['*'], careDates: false };
  override readonly levels: EverythingOperation['levels'] = ['instance'];
  override readonly resourceTypes = ['Encounter'];
  override readonly definition: OperationDefinition = {
    resourceType: 'OperationDefinition',
    id: 'Encounter-everything',
    url: 'http://hl7.org/fhir/OperationDefinition/Encounter-everything',
    name: 'Fetch Encounter Record',
    status: 'draft',
    kind: 'operation',
    code: 'everything',
    resource: ['Encounter'],
    system: false,
    type: false,
    instance: true,
    parameter: RECORD_PARAMETERS,
  };
}

import type { AuditEvent, AuditEventAgent, AuditEventEntity } from 'fhir/r4';
import type { AuditRow } from './audit-chain';
import { CLIENT_ENTITY, DCM, subtypeCoding, typeCoding } from './audit-codes';

const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const RESOURCE_TYPES = 'http://hl7.org/fhir/resource-types';
const BALP_ENTITY = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
export const CLIENT_ID_SYSTEM = 'urn:ietf:params:oauth:client-id';

/**
 * An audit row as a FHIR R4 AuditEvent following IHE BALP: the client
 * application, the server and the user as agents; the resource (with its
 * version), the search query, the Patients concerned and the request id as
 * entities. `patient`: shown as that Patient's own event (BALP: one AuditEvent
 * per Patient; audit-access.ts), without the other Patients the request concerned.
 */
export function toAuditEvent(row: AuditRow, baseUrl: string, patient?: string): AuditEvent {
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    id: row.id,
    meta: { versionId: '1', lastUpdated: row.recorded },
    type: typeCoding(row.type),
    subtype: row.subtype.map(subtypeCoding),
    action: row.action as AuditEvent['action'],
    recorded: row.recorded,
    outcome: String(row.outcome) as AuditEvent['outcome'],
    agent: agents(row, baseUrl),
    source: {
      observer: { display: baseUrl },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
  };
  if (row.outcome_desc) event.outcomeDesc = row.outcome_desc;
  const entity = entities(patient === undefined ? row : ownEvent(row, patient));
  if (entity.length) event.entity = entity;
  return event;
}

function agents(row: AuditRow, baseUrl: string): AuditEventAgent[] {
  const user = row.user_ref || row.user_name;
  const policy = row.token_id ? [row.token_id] : undefined;
  const client: AuditEventAgent = {
    type: { coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] },
    who: row.client_id ? { identifier: { system: CLIENT_ID_SYSTEM, value: row.client_id }, display: row.client_id } : { display: 'anonymous' },
    requestor: !user,
  };
  // agent.name: what `agent-name` (R4 AuditEvent.agent.name) matches, the client id and the user's login
  if (row.client_id) client.name = row.client_id;
  if (!user && policy) client.policy = policy;
  if (row.network) client.network = { address: row.network, type: '2' };
  const server: AuditEventAgent = {
    type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] },
    who: { display: baseUrl },
    requestor: false,
  };
  const list = [client, server];
  if (user) {
    const agent: AuditEventAgent = {
      type: { coding: [{ system: PARTICIPATION, code: 'IRCP', display: 'information recipient' }] },
      who: row.user_ref ? { reference: row.user_ref } : { display: row.user_name! },
      requestor: true,
    };
    if (row.user_name) {
      agent.name = row.user_name;
      agent.altId = row.user_name;
    }
    if (policy) agent.policy = policy;
    list.push(agent);
  }
  return list;
}

/** The row as the Patient's own event: its Patient entity alone, another Patient as the resource concerned left out. */
function ownEvent(row: AuditRow, patient: string): AuditRow {
  const other = row.entity_type === 'Patient' && row.entity_id !== null && row.entity_id !== patient;
  return {
    ...row,
    patient: row.patient.filter((p) => p === patient),
    ...(other ? { entity_id: null, entity_version: null } : {}),
  };
}

function entities(row: AuditRow): AuditEventEntity[] {
  const list: AuditEventEntity[] = [];
  if (row.entity_type === CLIENT_ENTITY && row.entity_id) {
    // the OAuth client a security event concerns (a registration: the client registered)
    list.push({
      what: { identifier: { system: CLIENT_ID_SYSTEM, value: row.entity_id }, display: row.entity_id },
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '11', display: 'Security User Entity' },
      description: 'OAuth client',
    });
  } else if (row.entity_type && row.entity_id) {
    const version = row.entity_version !== null ? `/_history/${row.entity_version}` : '';
    list.push({
      what: { reference: `${row.entity_type}/${row.entity_id}${version}` },
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
    });
  }
  if (row.query !== null) {
    list.push({
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '24', display: 'Query' },
      description: queryDescription(row),
      query: Buffer.from(row.query, 'utf8').toString('base64'),
    });
  } else if (row.entity_type && !row.entity_id) {
    // a type-level interaction with no query (`GET Observation`, `Observation/_history`, `Observation/$validate`,
    // a refused create): the type concerned, as an entity of that resource type (R4 AuditEventEntityType)
    list.push({
      type: { system: RESOURCE_TYPES, code: row.entity_type, display: row.entity_type },
      role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
      description: `${row.entity_type} (type-level interaction)`,
    });
  }
  for (const id of row.patient) {
    list.push({
      what: { reference: `Patient/${id}` },
      type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
      role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
    });
  }
  if (row.request_id) {
    list.push({ what: { identifier: { value: row.request_id } }, type: { system: BALP_ENTITY, code: 'XrequestId' } });
  }
  return list;
}

/** What the recorded query is: an operation's URL parameters, a search (of a type, or in a compartment). */
function queryDescription(row: AuditRow): string | undefined {
  const op = row.subtype.indexOf('operation'); // also after `access-denied` / `token-refused`
  if (op >= 0) return `parameters of ${row.subtype[op + 1] ?? 'the operation'}`;
  if (!row.entity_type) return undefined;
  return row.entity_id ? `search in the compartment of ${row.entity_type}/${row.entity_id}` : `search of ${row.entity_type}`;
}

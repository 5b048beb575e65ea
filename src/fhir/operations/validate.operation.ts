import { Injectable } from '@nestjs/common';
import type { OperationDefinition, OperationOutcomeIssue, Parameters } from 'fhir/r4';
import { badRequest, issue, operationOutcome } from '../errors';
import type { FhirResponse } from '../rest/fhir-response';
import { ResourceValidator } from '../validation/resource-validator';
import type { FhirOperation, OperationCall } from './operation-registry';

const MODES = ['create', 'update', 'delete', 'profile'];

/**
 * `$validate` (resource-operation-validate.html) at type and instance level:
 * the resource in the body, or in a Parameters `resource` parameter, with an
 * optional `profile` and `mode`. Answers 200 with an OperationOutcome whether
 * the resource is valid or not; 400 only when the request itself is unusable.
 * Never stores anything.
 */
@Injectable()
export class ValidateOperation implements FhirOperation {
  readonly name = 'validate';
  readonly levels: FhirOperation['levels'] = ['type', 'instance'];
  readonly affectsState = false;
  readonly definition: OperationDefinition = {
    resourceType: 'OperationDefinition',
    id: 'Resource-validate',
    url: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
    name: 'Validate',
    status: 'active',
    kind: 'operation',
    code: 'validate',
    resource: ['Resource'],
    system: false,
    type: true,
    instance: true,
    parameter: [
      { name: 'resource', use: 'in', min: 0, max: '1', type: 'Resource' as any },
      { name: 'mode', use: 'in', min: 0, max: '1', type: 'code' },
      { name: 'profile', use: 'in', min: 0, max: '1', type: 'uri' },
      { name: 'return', use: 'out', min: 1, max: '1', type: 'OperationOutcome' },
    ],
  };

  constructor(private readonly validator: ResourceValidator) {}

  async invoke(call: OperationCall): Promise<FhirResponse> {
    const input = this.input(call);
    if (input.mode && !MODES.includes(input.mode)) throw badRequest(`mode must be one of ${MODES.join(', ')}`, ['mode']);
    if (input.mode === 'delete') {
      if (call.level !== 'instance') throw badRequest('mode=delete needs an instance ($validate on Type/id)');
      return ok([issue('informational', 'this server places no conditions on deletion', undefined, 'information')]);
    }
    const resource = input.resource;
    if (resource === undefined) throw badRequest('no resource to validate: send it as the body or as the "resource" parameter');
    const type = (resource as { resourceType?: unknown })?.resourceType;
    if (typeof type === 'string' && type !== call.resourceType) {
      throw badRequest(`resourceType "${type}" does not match the URL type "${call.resourceType}"`, ['resourceType']);
    }
    const issues = this.validator.validate(resource, { profiles: input.profile ? [input.profile] : [] });
    const id = (resource as { id?: unknown })?.id;
    if (call.level === 'instance' && id !== call.id && (id !== undefined || input.mode === 'update')) {
      issues.push(issue('invalid', `the resource id ${JSON.stringify(id)} does not match the URL id "${call.id}"`, [`${type}.id`]));
    }
    if (!issues.length) issues.push(issue('informational', 'no issues detected', undefined, 'information'));
    return ok(issues);
  }

  /** The parameters from the body (a bare resource or Parameters) and the URL. */
  private input(call: OperationCall): { resource?: unknown; profile?: string; mode?: string } {
    const query = (name: string) => call.params.find(([k]) => k === name)?.[1];
    const body = call.body as Parameters | Record<string, unknown> | undefined;
    const empty = body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0);
    let resource: unknown = empty ? undefined : body;
    let profile = query('profile');
    let mode = query('mode');
    if (!empty && isParameters(body, call.resourceType)) {
      const params = (body as Parameters).parameter ?? [];
      const find = (name: string) => params.find((p) => p.name === name);
      resource = find('resource')?.resource;
      const p = find('profile');
      profile = p?.valueUri ?? p?.valueCanonical ?? p?.valueString ?? profile;
      const m = find('mode');
      mode = m?.valueCode ?? m?.valueString ?? mode;
    }
    return { resource, profile, mode };
  }
}

/** A Parameters body wraps the input, unless Parameters itself is being validated (then only with a `resource` parameter). */
function isParameters(body: unknown, urlType?: string): boolean {
  if ((body as { resourceType?: unknown }).resourceType !== 'Parameters') return false;
  if (urlType !== 'Parameters') return true;
  const params = (body as Parameters).parameter;
  return Array.isArray(params) && params.some((p) => p?.name === 'resource' && p.resource);
}

function ok(issues: OperationOutcomeIssue[]): FhirResponse {
  return { status: 200, body: operationOutcome(issues) };
}

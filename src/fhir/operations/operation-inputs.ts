import type { CodeableConcept, Coding, Parameters, ParametersParameter, Resource } from 'fhir/r4';
import { badRequest } from '../errors';
import { formBodyPairs } from '../rest/query-string';
import type { OperationCall } from './operation-registry';

/**
 * The input parameters of an operation call (operations.html#request): the URL's query parameters,
 * and with POST the `Parameters` body's (primitive values as text, Codings, CodeableConcepts and
 * resources as they are). A name given twice where one value is expected is a 400.
 */
export class OperationInputs {
  private readonly params: ParametersParameter[];

  constructor(private readonly call: OperationCall) {
    const body = call.body as Parameters | undefined;
    if (call.method === 'POST' && body !== undefined && body !== null && (typeof body !== 'object' || body.resourceType !== 'Parameters')) {
      throw badRequest('the body of this operation must be a Parameters resource');
    }
    this.params = Array.isArray(body?.parameter) ? body.parameter : [];
  }

  /** A primitive input (`code`, `system`, `url`, `filter`, …), from the URL or the body. */
  text(name: string): string | undefined {
    const values = [
      ...this.call.params.filter(([k]) => k === name).map(([, v]) => v),
      ...this.params.filter((p) => p.name === name).map((p) => primitive(p)).filter((v): v is string => v !== undefined),
    ];
    if (values.length > 1) throw badRequest(`parameter "${name}" is given more than once`);
    return values[0];
  }

  /** A whole number input (`count`, `offset`); 400 when it is not one. */
  count(name: string): number | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    if (!/^[0-9]{1,9}$/.test(v)) throw badRequest(`parameter "${name}" must be a non-negative integer`);
    return Number(v);
  }

  coding(name: string): Coding | undefined {
    return this.params.find((p) => p.name === name)?.valueCoding;
  }

  concept(name: string): CodeableConcept | undefined {
    return this.params.find((p) => p.name === name)?.valueCodeableConcept;
  }

  resource<T extends Resource>(name: string, type: T['resourceType']): T | undefined {
    const r = this.params.find((p) => p.name === name)?.resource;
    if (r !== undefined && r.resourceType !== type) throw badRequest(`parameter "${name}" must be a ${type}`);
    return r as T | undefined;
  }
}

function primitive(p: ParametersParameter): string | undefined {
  for (const [k, v] of Object.entries(p)) {
    if (k.startsWith('value') && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) return String(v);
  }
  return undefined;
}

/**
 * The call's inputs (operations.html#request): the URL's query parameters and, with POST, the
 * body's: a Parameters resource (primitive values as text, a Reference as its reference) or a form
 * (content negotiation accepts one on `/$` paths).
 */
export function inputPairs(call: OperationCall, operation: string): [string, string][] {
  if (call.method !== 'POST') return call.params;
  const body = call.body as Parameters | undefined;
  if (body && typeof body === 'object' && 'resourceType' in body) {
    if (body.resourceType !== 'Parameters') throw badRequest(`the body of ${operation} must be a Parameters resource`);
    return [...call.params, ...(body.parameter ?? []).map((p): [string, string] => [p.name, inputValue(p, operation)])];
  }
  return [...call.params, ...(call.res ? formBodyPairs(call.res.req) : [])];
}

function inputValue(p: ParametersParameter, operation: string): string {
  const v = p.valueReference?.reference ?? primitive(p);
  if (v !== undefined) return v;
  throw badRequest(`parameter "${p.name}" of ${operation} must have a primitive value (or a Reference)`);
}

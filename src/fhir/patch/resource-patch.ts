import { applyOperation, deepClone, JsonPatchError, Operation, unescapePathComponent, validate } from 'fast-json-patch';
import type { Binary, Parameters, Resource } from 'fhir/r4';
import { loadDefinitions } from '../definitions/definitions';
import { badRequest, FhirError } from '../errors';
import { SchemaCompiler } from '../validation/structure-schema';
import { applyFhirPathPatch } from './fhirpath-patch';

export const JSON_PATCH = 'application/json-patch+json';

/** The element schemas FHIRPath Patch builds values by (made on the first such patch, then kept). */
let schemas: SchemaCompiler | undefined;

/** A patch in either format the server takes (http.html §3.1.0.5 patch). */
export type ResourcePatch = { format: 'json-patch'; operations: Operation[] } | { format: 'fhirpath-patch'; parameters: Parameters };

/**
 * The patch a PATCH carries: a JSON Patch (an array of operations; in a Bundle entry a Binary
 * holding one, http.html §3.1.0.5.1) or a FHIRPath Patch (a Parameters resource, fhirpatch.html).
 */
export function readPatch(body: unknown): ResourcePatch {
  if (isResource(body) && body.resourceType === 'Parameters') return { format: 'fhirpath-patch', parameters: body as Parameters };
  let operations: unknown = body;
  if (isResource(body)) {
    const bin = body as Binary;
    if (bin.resourceType !== 'Binary') {
      throw FhirError.of(422, 'not-supported', `a patch is a JSON Patch (a Binary in a Bundle) or a FHIRPath Patch (Parameters), not a ${bin.resourceType}`);
    }
    if (bin.contentType && !bin.contentType.startsWith(JSON_PATCH)) {
      throw FhirError.of(422, 'not-supported', `patch content type ${bin.contentType} is not supported; use ${JSON_PATCH}`);
    }
    try {
      operations = JSON.parse(Buffer.from(bin.data ?? '', 'base64').toString('utf8'));
    } catch {
      throw badRequest('the Binary of a PATCH entry does not hold JSON');
    }
  }
  if (!Array.isArray(operations)) throw badRequest('a JSON Patch must be an array of operations (or send a FHIRPath Patch: a Parameters resource)');
  const error = validate(operations as Operation[]);
  if (error) throw badRequest(`invalid JSON Patch: ${error.name} at operation ${error.index}`);
  return { format: 'json-patch', operations: operations as Operation[] };
}

/** The resource with the patch applied (a new object); 422 when the patch cannot apply. */
export function applyResourcePatch(resource: Resource, patch: ResourcePatch): Resource {
  if (patch.format === 'fhirpath-patch') return applyFhirPathPatch(resource, patch.parameters, (schemas ??= new SchemaCompiler(loadDefinitions())));
  let doc = deepClone(resource) as Resource;
  try {
    patch.operations.forEach((op, i) => {
      checkArrayIndexes(doc, op, i);
      doc = applyOperation(doc, op, true, true, true, i).newDocument;
    });
  } catch (err: any) {
    // a failing `test` op or a path that does not exist: the patch cannot apply
    throw FhirError.of(422, 'processing', `JSON Patch failed: ${err.name ?? 'error'} at operation ${err.index ?? '?'}`);
  }
  // `remove ""` or `replace ""` by a non-object leaves no resource at all (was a TypeError: 500)
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw FhirError.of(422, 'processing', 'JSON Patch failed: the result is not a resource');
  return doc;
}

/**
 * RFC 6901 §4: a token that addresses an array item is "0" or digits without a leading zero ("-",
 * past the end, only as the last token). fast-json-patch reads "01" as 1 and "" as 0 in `test`, in
 * `add` and in the target of `move`/`copy`, so `/name/01` would patch an item the pointer does not name.
 */
function checkArrayIndexes(doc: unknown, op: Operation, index: number): void {
  for (const pointer of [op.path, (op as { from?: unknown }).from]) {
    if (typeof pointer !== 'string') continue;
    const tokens = pointer.split('/').slice(1);
    let node: any = doc;
    for (const [i, token] of tokens.entries()) {
      if (node === null || typeof node !== 'object') break; // a path through nothing: fast-json-patch refuses it
      if (!Array.isArray(node)) {
        node = node[unescapePathComponent(token)];
        continue;
      }
      if (!/^(0|[1-9][0-9]*)$/.test(token) && !(token === '-' && i === tokens.length - 1)) {
        throw new JsonPatchError(`"${token}" is not an array index`, 'OPERATION_PATH_ILLEGAL_ARRAY_INDEX', index, op, doc);
      }
      node = node[Number(token)];
    }
  }
}

function isResource(v: unknown): v is { resourceType: string } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { resourceType?: unknown }).resourceType === 'string';
}

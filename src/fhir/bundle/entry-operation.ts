import { badRequest } from '../errors';
import type { OperationTarget } from '../operations/operation-registry';
import type { EntryRequest } from './bundle.types';

/**
 * The operation a Bundle entry's request.url names (`$name` as its last path segment, at the
 * levels of operations.html#executing: `[base]/$op`, `[base]/Type/$op`, `[base]/Type/id/$op`, and
 * a version's `[base]/Type/id/_history/vid/$op`); undefined for an interaction. A `$` segment
 * anywhere else is a 400.
 */
export function entryOperation(e: EntryRequest): OperationTarget | undefined {
  const at = e.rest.findIndex((s) => s.startsWith('$'));
  if (at < 0) return undefined;
  const segment = e.rest[at];
  const { resourceType, id } = e;
  if (at === e.rest.length - 1) {
    if (e.rest.length === 1) {
      const level = resourceType === undefined ? 'system' : id === undefined ? 'type' : 'instance';
      return { segment, level, resourceType, id };
    }
    if (id !== undefined && e.rest.length === 3 && e.rest[0] === '_history') {
      return { segment, level: 'instance', resourceType, id, versionId: e.rest[1] };
    }
  }
  throw badRequest(`request.url ${e.url} is not an operation URL ([base]/$op, Type/$op, Type/id/$op or Type/id/_history/vid/$op)`);
}

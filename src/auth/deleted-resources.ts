import type { Queryable } from '../database/database';
import { FhirError, notFound } from '../fhir/errors';
import type { StorageService } from '../fhir/storage/storage.service';
import type { AuthContext } from './auth-context';
import type { CompartmentChecker } from './compartment';
import { bodyAllowed } from './scope-policy';
import type { Interaction } from './scopes';

/**
 * Deleted resources under a token bounded by a patient compartment or a filter. The search index
 * (and with it compartment membership) holds current resources only, so a deleted resource is
 * judged by its last version before the deletion, read from its history: within the token's
 * scopes, the token learns it was deleted (410 Gone as for an unbounded token, http.html#read);
 * otherwise it stays unknown (404), whatever its past (no existence oracle, security.html).
 */
export async function deletedWithin(
  storage: StorageService,
  compartments: CompartmentChecker,
  auth: AuthContext,
  type: string,
  id: string,
  interaction: Interaction,
  q: Queryable = storage.db,
): Promise<boolean> {
  const current = await storage.readCurrent(type, id, q);
  if (!current?.deleted || current.versionId < 2) return false;
  // a delete writes only over a live version: the one before the tombstone is the last content
  const last = await storage.resources.readVersion(q, type, id, current.versionId - 1);
  return !!last?.content && bodyAllowed(auth, JSON.parse(last.content), interaction, compartments);
}

/**
 * A bounded token never re-creates a deleted resource (it may have been another patient's): 403
 * naming the deletion only when the deleted resource was within the token's scopes (it reads it
 * as 410 anyway); otherwise the 404 of a resource it cannot see, telling nothing about the id's past.
 * `q`: the connection of the write being checked (a bundle's or conditional interaction's), if any.
 */
export async function refuseRecreate(
  storage: StorageService,
  compartments: CompartmentChecker,
  auth: AuthContext,
  type: string,
  id: string,
  interaction: Interaction,
  q?: Queryable,
): Promise<never> {
  if (await deletedWithin(storage, compartments, auth, type, id, interaction, q)) {
    throw FhirError.of(403, 'forbidden', `the token's scopes do not allow re-creating the deleted ${type}/${id}`);
  }
  throw notFound(`${type}/${id} is not known`);
}

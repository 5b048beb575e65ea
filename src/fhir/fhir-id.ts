import { badRequest } from './errors';
import { clip } from './validation/primitives';

/** The logical id of a resource (datatypes.html#id): 1 to 64 of A-Z, a-z, 0-9, `-` and `.`. */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** 400 unless `id` is a valid logical id: such a value never reaches the database (it could not name a resource). */
export function assertFhirId(id: string): void {
  if (!FHIR_ID.test(id)) throw badRequest(`"${clip(id, 64)}" is not a valid FHIR id`, ['id']);
}

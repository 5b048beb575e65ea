import { FhirError } from '../../src/fhir/errors';

/** Asserts that `fn` throws a FhirError with this HTTP status and a message matching `text`. */
export function expectFhirError(fn: () => unknown, status: number, text: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FhirError);
    expect((err as FhirError).status).toBe(status);
    expect((err as FhirError).message).toMatch(text);
    return;
  }
  throw new Error('expected a FhirError');
}

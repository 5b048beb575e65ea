import type { Queryable } from '../../database/database';
import { FhirError } from '../errors';
import type { RequestContext } from '../rest/request-context';
import { entryError } from './bundle-parser';
import type { EntryOutcome, EntryRequest } from './bundle.types';
import type { EntryReader } from './entry-reader';

/**
 * The GET/HEAD entries of a transaction, answered inside it, after its
 * writes and before the commit (http.html §3.1.0.11.2 processing order:
 * DELETE, POST, PUT/PATCH, then GET/HEAD), on its connection `q`: they see
 * the transaction's own writes. A read that fails (404, 410, 403, …) fails
 * the whole transaction, which rolls back (http.html §3.1.0.11.2: "if any
 * resource … fails, the entire set fails"; a transaction either accepts all
 * actions with 200 or rejects all with 4xx/5xx). Answers go into `outcomes`.
 */
export function transactionReads(
  reader: EntryReader,
  ctx: RequestContext,
  reads: EntryRequest[],
  outcomes: Map<number, EntryOutcome>,
): (q: Queryable) => Promise<void> {
  return async (q) => {
    // one at a time: they share the transaction's connection
    for (const e of reads) {
      const response = await reader.read(ctx, e, q).catch((err) => {
        throw err instanceof FhirError ? readFailure(e, err) : err;
      });
      if (response.status >= 400) throw readFailure(e, FhirError.of(response.status, 'processing', `the read answered ${response.status}`));
      outcomes.set(e.index, { status: response.status, response });
    }
  };
}

/** The entry's error, named; without the entry's headers (a 410's ETag is not the Bundle's). */
function readFailure(e: EntryRequest, err: FhirError): FhirError {
  const named = entryError(e.index, err);
  return new FhirError(named.status, named.issues);
}

import type { AuthContext, ScopeRule } from '../../auth/auth-context';
import { FhirError, notFound } from '../errors';
import type { SearchService } from '../search/search.service';

type Interaction = 'c' | 'r' | 'u' | 'd' | 's';

/**
 * Binary.securityContext (binary.html, security.html#binary): access to a
 * Binary follows the resource it names. With a securityContext, the caller
 * needs the interaction on that resource's type and, under patient scopes,
 * the resource must be in the patient's compartment. Without one, a Binary
 * scope is needed (and patient scopes alone never reach it: a Binary is in
 * no compartment).
 *
 * This is the scope-level rule; the auth module's policy engine may replace
 * it with its shared SearchRestriction once that exists.
 */
export async function assertBinaryAccess(
  auth: AuthContext | undefined,
  interaction: Interaction,
  securityContext: string | undefined,
  search: SearchService,
): Promise<void> {
  if (!auth || auth.admin) return;
  const target = parseReference(securityContext);
  const type = target?.type ?? 'Binary';
  const rules = auth.rules.filter(
    (r: ScopeRule) => (r.resourceType === '*' || r.resourceType === type) && r.interactions.has(interaction),
  );
  if (!rules.length) throw FhirError.of(403, 'forbidden', `the token's scopes do not allow this on ${type}`);
  // a user/ or system/ scope reaches every resource of the type; patient/ only the patient's own
  if (rules.some((r) => r.context !== 'patient')) return;
  if (!target || !auth.patient) throw notFound('Binary is not known');
  // `_compartment` is an internal criterion: it is accepted in a restriction, not as a search parameter
  const compartment: [string, string][][] = [[['_compartment', `Patient/${auth.patient}`]]];
  const matches = await search.findMatches(target.type, [['_id', target.id]], {
    limit: 1,
    restriction: { criteriaFor: (t) => (t === target.type ? compartment : false) },
  });
  // the same answer as for an unknown id: do not reveal that it exists
  if (!matches.length) throw notFound('Binary is not known');
}

function parseReference(ref: string | undefined): { type: string; id: string } | undefined {
  const m = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(ref ?? '');
  return m ? { type: m[1], id: m[2] } : undefined;
}

import type { AuthContext } from '../../auth/auth-context';
import { grantedContext } from '../../auth/scope-policy';
import type { RequestContext } from '../rest/request-context';
import type { WriteExtra } from '../storage/storage.types';

/**
 * Who wrote a Subscription (the current version, through the API), as stored
 * in `subscription_owner`: the request's SMART authorization, never a token.
 * `adminRole` is the user's admin role as the token carried it (user/ rules of
 * an admin are not bounded to a compartment); `admin` is informational, the
 * policy derives admin powers from the role and the scopes as a request does.
 * `unrestricted`: written without a token while AUTH_REQUIRED=false.
 */
export type SubscriptionOwner =
  | { unrestricted: true }
  | (Pick<AuthContext, 'clientId' | 'fhirUser' | 'username' | 'patient' | 'encounter' | 'scopes' | 'admin'> & { adminRole?: boolean });

export function ownerOf(auth: AuthContext | undefined): SubscriptionOwner {
  if (!auth) return { unrestricted: true };
  const { clientId, fhirUser, username, patient, encounter, scopes, admin } = auth;
  return { clientId, fhirUser, username, patient, encounter, scopes, admin, adminRole: !!auth.adminRole };
}

/**
 * The AuthContext the owner's notifications are bounded by, built like an
 * access token's (`grantedContext`): the same rules, compartment bounds and
 * admin powers a request with the writer's token gets. Undefined: unrestricted.
 */
export function policyOf(owner: SubscriptionOwner, isResourceType: (t: string) => boolean): AuthContext | undefined {
  if ('unrestricted' in owner) return undefined;
  const { clientId, fhirUser, username, patient, encounter, scopes } = owner;
  return grantedContext({ clientId, fhirUser, username, patient, encounter, scope: scopes.join(' '), adminRole: !!owner.adminRole }, isResourceType);
}

/**
 * The part of an API write statement that records the writer of every
 * Subscription version it writes (and forgets it when the Subscription is
 * deleted), so the record commits or rolls back with the version. Internal
 * writes (the matcher's status changes) carry no extras and keep the owner.
 */
export function ownerWriteExtra(ctx: RequestContext | undefined): WriteExtra {
  return {
    ctes: (bind, writes) => {
      if (!writes.some((w) => w.resourceType === 'Subscription')) return [];
      const owner = bind(JSON.stringify(ownerOf(ctx?.auth)), 'jsonb');
      return [
        `subscription_owner_w AS (
          INSERT INTO subscription_owner (id, version_id, owner)
          SELECT w.id, w.version_id, ${owner} FROM w JOIN written USING (resource_type, id)
           WHERE w.resource_type = 'Subscription' AND NOT w.deleted
          ON CONFLICT (id) DO UPDATE SET version_id = EXCLUDED.version_id, owner = EXCLUDED.owner, recorded_at = now())`,
        `subscription_owner_d AS (
          DELETE FROM subscription_owner o USING w JOIN written USING (resource_type, id)
           WHERE w.resource_type = 'Subscription' AND w.deleted AND o.id = w.id)`,
      ];
    },
  };
}

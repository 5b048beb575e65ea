import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `subscription_owner.owner` records the writer's admin role (`adminRole`),
 * which the matcher needs to bound notifications exactly as a request with
 * the writer's token: the `user/` rules of a user with the admin role (and
 * no fhirUser) are not bounded to a compartment, admin powers need the role
 * AND `user/*.cruds` (src/auth/scope-policy.ts). Owners recorded before carry
 * only `admin` (the powers); the role is filled in from it, or from the
 * writer's current roles in `auth_user` (what a token issued now would say).
 * Client-only writers (client_credentials) and unrestricted writes have none.
 */
export class SubscriptionOwnerAdminRole1795647300000 implements MigrationInterface {
  name = 'SubscriptionOwnerAdminRole1795647300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      UPDATE subscription_owner o
         SET owner = o.owner || jsonb_build_object('adminRole',
               coalesce((o.owner->>'admin')::boolean, false)
               OR EXISTS (SELECT 1 FROM auth_user u WHERE u.username = o.owner->>'username' AND 'admin' = ANY (u.roles)))
       WHERE NOT o.owner ? 'unrestricted' AND NOT o.owner ? 'adminRole'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE subscription_owner SET owner = owner - 'adminRole'`);
  }
}

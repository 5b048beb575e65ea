import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Who wrote each Subscription (its current version through the API): the
 * SMART authorization of the request (client, fhirUser, patient, granted
 * scopes) or `{"unrestricted": true}` for a write without a token
 * (AUTH_REQUIRED=false). Written by the same statement as the Subscription
 * version; the matcher bounds notifications by this policy, so a
 * Subscription never discloses more than its author may read. Subscriptions
 * without a row (written before this table) are set to `error` until they
 * are written again.
 */
export class SubscriptionOwner1795634000000 implements MigrationInterface {
  name = 'SubscriptionOwner1795634000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE subscription_owner (
        id text PRIMARY KEY,
        version_id integer NOT NULL,
        owner jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE subscription_owner');
  }
}

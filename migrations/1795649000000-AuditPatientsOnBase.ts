import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The Patients a deleted version concerned (its audit row is built in SQL from the version it
 * replaces), found as `patientsInBody` (src/audit/http-interaction.ts) finds them: one pass over the
 * `reference` and `fullUrl` values in order; a relative `Patient/x` or versioned `Patient/x/_history/n`
 * reference (→ x), or an absolute one on this server's `base`; not a reference to another server
 * (absolute on another base, or relative inside a Bundle entry whose fullUrl is on another base,
 * bundle.html#references), nor a URN, a contained resource's local id or an identifier. The function
 * of the Audit migration counted every `…/Patient/x` (other servers' too) and missed versioned ones.
 */
export class AuditPatientsOnBase1795649000000 implements MigrationInterface {
  name = 'AuditPatientsOnBase1795649000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION audit_patients(rtype text, rid text, content text, base text) RETURNS text[]
      LANGUAGE plpgsql IMMUTABLE AS $$
      DECLARE
        found text[] := CASE WHEN rtype = 'Patient' THEN ARRAY[rid] ELSE '{}'::text[] END;
        m text[];
        p text[];
        on_base boolean;
        is_local boolean := true;
        rel text;
      BEGIN
        IF content IS NULL OR strpos(content, 'Patient') = 0 THEN
          RETURN found;
        END IF;
        FOR m IN SELECT regexp_matches(content, '"(reference|fullUrl)"\\s*:\\s*"([^"]*)"', 'g') LOOP
          on_base := base <> '' AND left(m[2], length(base) + 1) = base || '/';
          IF m[1] = 'fullUrl' THEN
            is_local := on_base OR m[2] !~ '^https?:';
          END IF;
          rel := CASE WHEN on_base THEN substr(m[2], length(base) + 2) WHEN m[1] = 'reference' AND is_local THEN m[2] END;
          IF rel IS NOT NULL THEN
            p := regexp_match(rel, '^Patient/([A-Za-z0-9.-]{1,64})(/_history/[0-9]+)?$');
            IF p IS NOT NULL AND NOT p[1] = ANY(found) THEN
              found := found || p[1];
              EXIT WHEN cardinality(found) >= 100;
            END IF;
          END IF;
        END LOOP;
        RETURN found;
      END
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP FUNCTION IF EXISTS audit_patients(text, text, text, text)');
  }
}

import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail (src/audit): one row per access, served as FHIR AuditEvent.
 *
 * - `audit_event` rows are written by a group-committed multi-row INSERT
 *   (reads, searches, failures) or by a CTE inside the write statement of the
 *   resources they describe (create, update, patch, delete). `tx` is the
 *   inserting transaction (xid8): the sealer chains rows in (tx, id) order
 *   only below the xid horizon, so a row that commits late can never land
 *   behind an already sealed position.
 * - `audit_chain` is the tamper-evident chain: row `seq` carries
 *   SHA-256(previous hash || seq || canonical event row). It is a narrow
 *   append-only table so that sealing never rewrites (and bloats) events.
 * - `audit_head` (one row) is the chain head, the sealer's cursor and the
 *   retention anchor (hash of the last row removed by retention).
 * - No global sequence: `seq` is assigned by the single sealer holding the
 *   head row lock; ids are UUIDs.
 */
export class Audit1795624483573 implements MigrationInterface {
  name = 'Audit1795624483573';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_event (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
        recorded timestamptz NOT NULL,
        type text NOT NULL,
        subtype text[] NOT NULL,
        action text NOT NULL,
        outcome smallint NOT NULL,
        outcome_desc text,
        client_id text,
        user_ref text,
        user_name text,
        token_id text,
        network text,
        request_id text,
        entity_type text,
        entity_id text,
        entity_version integer,
        query text,
        patient text[] NOT NULL DEFAULT '{}',
        PRIMARY KEY (id)
      )`);
    await q.query(`CREATE INDEX audit_event_tx_idx ON audit_event (tx, id)`);
    await q.query(`CREATE INDEX audit_event_recorded_idx ON audit_event (recorded)`);
    await q.query(`CREATE INDEX audit_event_patient_idx ON audit_event USING gin (patient)`);
    await q.query(`CREATE INDEX audit_event_entity_idx ON audit_event (entity_type, entity_id) WHERE entity_id IS NOT NULL`);
    await q.query(`CREATE INDEX audit_event_user_idx ON audit_event (user_ref) WHERE user_ref IS NOT NULL`);
    await q.query(`
      CREATE TABLE audit_chain (
        seq bigint PRIMARY KEY,
        event_id uuid NOT NULL,
        hash bytea NOT NULL
      )`);
    await q.query(`
      CREATE TABLE audit_head (
        id integer PRIMARY KEY CHECK (id = 1),
        seq bigint NOT NULL,
        hash bytea NOT NULL,
        cursor_tx xid8 NOT NULL,
        cursor_id uuid NOT NULL,
        anchor_seq bigint NOT NULL,
        anchor_hash bytea NOT NULL,
        anchored_at timestamptz
      )`);
    await q.query(`
      INSERT INTO audit_head (id, seq, hash, cursor_tx, cursor_id, anchor_seq, anchor_hash)
      VALUES (1, 0, decode(repeat('00', 32), 'hex'), '0', '00000000-0000-0000-0000-000000000000', 0, decode(repeat('00', 32), 'hex'))`);
    // the Patients a stored resource concerns: the Patient itself, and every Patient it references
    // (the audit row of a write is built in SQL, inside the write statement)
    await q.query(`
      CREATE FUNCTION audit_patients(rtype text, rid text, content text) RETURNS text[]
      LANGUAGE sql IMMUTABLE AS $$
        SELECT coalesce(array_agg(DISTINCT p), '{}') FROM (
          SELECT rid AS p WHERE rtype = 'Patient'
          UNION
          SELECT m[1] FROM regexp_matches(coalesce(content, ''), '"reference":"(?:[^"]*/)?Patient/([A-Za-z0-9.-]{1,64})"', 'g') AS m
        ) s
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP FUNCTION audit_patients(text, text, text)');
    await q.query('DROP TABLE audit_head');
    await q.query('DROP TABLE audit_chain');
    await q.query('DROP TABLE audit_event');
  }
}

import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The sealer's chaining step as one database function (`src/audit/audit-sealer.ts`): it takes the
 * head row lock (SKIP LOCKED: another sealer holds it → -1), walks the sealable rows in (tx, id)
 * order and appends their links, computed exactly as `linkHash` in `src/audit/audit-chain.ts`:
 * SHA-256(previous link || seq as 8 bytes big-endian || tx as text || row_hash).
 *
 * Done in the server process this cost as much CPU as writing the rows (every key and hash sent to
 * Node and every link sent back); here it is a loop over an index scan. A row without a row hash
 * (written by a statement that could not hash it) stops the walk: its id is returned for the
 * caller to hash (the canonical form is defined in TypeScript) before calling again.
 */
export class AuditSealInDatabase1795640000000 implements MigrationInterface {
  name = 'AuditSealInDatabase1795640000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION audit_seal(max_rows integer, OUT sealed integer, OUT unhashed uuid) LANGUAGE plpgsql AS $$
      DECLARE
        head audit_head%ROWTYPE;
        ev record;
        link_seq bigint;
        link bytea;
        last_tx xid8;
        last_id uuid;
        seqs bigint[] := '{}';
        ids uuid[] := '{}';
        links bytea[] := '{}';
      BEGIN
        sealed := 0;
        SELECT * INTO head FROM audit_head WHERE id = 1 FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
          sealed := -1;
          RETURN;
        END IF;
        link_seq := head.seq;
        link := head.hash;
        FOR ev IN
          SELECT e.tx, e.id, e.row_hash FROM audit_event e
           WHERE e.tx < pg_snapshot_xmin(pg_current_snapshot())
             AND (e.tx, e.id) > (head.cursor_tx, head.cursor_id)
           ORDER BY e.tx, e.id
           LIMIT max_rows
        LOOP
          IF ev.row_hash IS NULL THEN
            unhashed := ev.id;
            EXIT;
          END IF;
          link_seq := link_seq + 1;
          link := sha256(link || int8send(link_seq) || convert_to(ev.tx::text, 'LATIN1') || ev.row_hash);
          seqs := seqs || link_seq;
          ids := ids || ev.id;
          links := links || link;
          last_tx := ev.tx;
          last_id := ev.id;
          sealed := sealed + 1;
        END LOOP;
        IF sealed > 0 THEN
          INSERT INTO audit_chain (seq, event_id, hash) SELECT * FROM unnest(seqs, ids, links);
          UPDATE audit_head SET seq = link_seq, hash = link, cursor_tx = last_tx, cursor_id = last_id WHERE id = 1;
        END IF;
      END
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP FUNCTION audit_seal(integer)');
  }
}

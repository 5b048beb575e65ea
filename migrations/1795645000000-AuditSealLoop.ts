import { MigrationInterface, QueryRunner } from 'typeorm';
import { AuditSealInDatabase1795640000000 } from './1795640000000-AuditSealInDatabase';

/**
 * A cheaper loop for `audit_seal` (same links, same result): the transaction id's text is
 * converted once per transaction, not once per row (a group commit's rows share one), and the
 * sequence numbers are not collected but counted from the head (`WITH ORDINALITY`). Measured on
 * 20,000 rows sealed 2,000 at a time: 7.1–9.2 → 6.4–6.6 µs of database time per row, paid for
 * every audited access.
 */
export class AuditSealLoop1795645000000 implements MigrationInterface {
  name = 'AuditSealLoop1795645000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION audit_seal(max_rows integer, OUT sealed integer, OUT unhashed uuid) LANGUAGE plpgsql AS $$
      DECLARE
        head audit_head%ROWTYPE;
        ev record;
        link bytea;
        last_tx xid8;
        tx_text bytea;
        last_id uuid;
        ids uuid[] := '{}';
        links bytea[] := '{}';
      BEGIN
        sealed := 0;
        SELECT * INTO head FROM audit_head WHERE id = 1 FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
          sealed := -1;
          RETURN;
        END IF;
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
          IF last_tx IS DISTINCT FROM ev.tx THEN
            tx_text := convert_to(ev.tx::text, 'LATIN1');
            last_tx := ev.tx;
          END IF;
          sealed := sealed + 1;
          link := sha256(link || int8send(head.seq + sealed) || tx_text || ev.row_hash);
          ids[sealed] := ev.id;
          links[sealed] := link;
          last_id := ev.id;
        END LOOP;
        IF sealed > 0 THEN
          INSERT INTO audit_chain (seq, event_id, hash)
            SELECT head.seq + u.n, u.id, u.link FROM unnest(ids, links) WITH ORDINALITY AS u(id, link, n);
          UPDATE audit_head SET seq = head.seq + sealed, hash = link, cursor_tx = last_tx, cursor_id = last_id WHERE id = 1;
        END IF;
      END
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP FUNCTION audit_seal(integer)');
    await new AuditSealInDatabase1795640000000().up(q);
  }
}

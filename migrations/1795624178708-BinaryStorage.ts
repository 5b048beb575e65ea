import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Binary payloads stored outside the resource row, in 1 MiB bytea chunks,
 * so that neither a write nor a read holds a whole document in memory.
 *
 * - `binary_blob` / `binary_chunk`: an immutable byte string, written chunk
 *   by chunk (each chunk its own short statement: a slow 100 MB upload never
 *   holds a transaction open, which would stall the embedded database).
 * - `binary_version`: which blob a version of a Binary resource carries. It is
 *   written in the same statement as the resource version (a storage
 *   WriteExtra), so a blob becomes visible exactly when its version commits;
 *   blobs no version points at are swept after an hour (aborted uploads).
 * - No foreign keys; each table is keyed by its own distribution column.
 */
export class BinaryStorage1795624178708 implements MigrationInterface {
  name = 'BinaryStorage1795624178708';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE binary_blob (
        blob_id uuid PRIMARY KEY,
        size bigint NOT NULL DEFAULT 0,
        chunks integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE binary_chunk (
        blob_id uuid NOT NULL,
        seq integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (blob_id, seq)
      )`);
    // documents (PDF, DICOM, JPEG) are already compressed: skip TOAST compression attempts
    await q.query(`ALTER TABLE binary_chunk ALTER COLUMN data SET STORAGE EXTERNAL`);
    await q.query(`
      CREATE TABLE binary_version (
        id text NOT NULL,
        version_id integer NOT NULL,
        blob_id uuid NOT NULL,
        PRIMARY KEY (id, version_id)
      )`);
    await q.query(`CREATE INDEX binary_version_blob_idx ON binary_version (blob_id)`);
    await q.query(`CREATE INDEX binary_blob_created_idx ON binary_blob (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE binary_version');
    await q.query('DROP TABLE binary_chunk');
    await q.query('DROP TABLE binary_blob');
  }
}

import { randomUUID } from 'crypto';
import type { Database } from '../../database/database';
import type { WriteExtra } from '../storage/storage.types';

/** Size of one stored piece: big enough for few round trips, small enough to keep memory flat. */
export const CHUNK_BYTES = 1024 * 1024;

export interface BlobInfo {
  blobId: string;
  size: number;
  chunks: number;
}

/** Thrown by `writeBlob` when the payload exceeds the limit (the caller answers 413). */
export class BlobTooLarge extends Error {}

/**
 * Owns the SQL of the Binary payload tables (`binary_blob`, `binary_chunk`,
 * `binary_version`; see the BinaryStorage migration).
 */
export class BinaryRepository {
  constructor(private readonly db: Database) {}

  /**
   * Stores a byte stream as a new blob, chunk by chunk (one short statement
   * per MiB, never a long transaction). On any error the partial blob is
   * removed and the error rethrown.
   */
  async writeBlob(source: AsyncIterable<Buffer | string> | Iterable<Buffer>, maxBytes: number): Promise<BlobInfo> {
    const blobId = randomUUID();
    await this.db.query('INSERT INTO binary_blob (blob_id) VALUES ($1)', [blobId]);
    let size = 0;
    let seq = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (all: boolean) => {
      while (pendingBytes >= CHUNK_BYTES || (all && pendingBytes > 0)) {
        const joined = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
        const piece = joined.subarray(0, Math.min(CHUNK_BYTES, joined.length));
        const rest = joined.subarray(piece.length);
        await this.db.query('INSERT INTO binary_chunk (blob_id, seq, data) VALUES ($1, $2, $3)', [blobId, seq++, piece]);
        pending = rest.length ? [rest] : [];
        pendingBytes = rest.length;
      }
    };
    try {
      for await (const raw of source) {
        const buf = typeof raw === 'string' ? Buffer.from(raw) : raw;
        size += buf.length;
        if (size > maxBytes) throw new BlobTooLarge(`payload is larger than ${maxBytes} bytes`);
        pending.push(buf);
        pendingBytes += buf.length;
        if (pendingBytes >= CHUNK_BYTES) await flush(false);
      }
      await flush(true);
      await this.db.query('UPDATE binary_blob SET size = $2, chunks = $3 WHERE blob_id = $1', [blobId, size, seq]);
      return { blobId, size, chunks: seq };
    } catch (err) {
      await this.deleteBlob(blobId).catch(() => undefined);
      throw err;
    }
  }

  /** The statement part that attaches a blob to the version being written (same statement as the resource). */
  attach(blobId: string): WriteExtra {
    return {
      ctes: (bind) => [
        `binary_link AS (
          INSERT INTO binary_version (id, version_id, blob_id)
          SELECT w.id, w.version_id, ${bind(blobId, 'uuid')} FROM w JOIN written USING (resource_type, id))`,
      ],
    };
  }

  /**
   * The statement part that gives the version being written the blob of the version it follows
   * (a change of the resource alone, `$meta-add`: the document stays; blobs are immutable, so
   * versions may share one). Decided in the statement, against the version it replaces.
   */
  carryForward(): WriteExtra {
    return {
      ctes: () => [
        `binary_carry AS (
          INSERT INTO binary_version (id, version_id, blob_id)
          SELECT w.id, w.version_id, p.blob_id FROM w JOIN written USING (resource_type, id)
            JOIN binary_version p ON p.id = w.id AND p.version_id = w.version_id - 1)`,
      ],
    };
  }

  /** The blob a version of a Binary carries, or undefined (no data, or stored inline). */
  async blobOf(id: string, versionId: number): Promise<BlobInfo | undefined> {
    const r = await this.db.query(
      `SELECT b.blob_id, b.size, b.chunks FROM binary_version v JOIN binary_blob b ON b.blob_id = v.blob_id
        WHERE v.id = $1 AND v.version_id = $2`,
      [id, versionId],
    );
    if (!r.rows.length) return undefined;
    return { blobId: r.rows[0].blob_id, size: Number(r.rows[0].size), chunks: r.rows[0].chunks };
  }

  /** One chunk, as raw bytes. */
  async chunk(blobId: string, seq: number): Promise<Buffer> {
    // (text format: pg decodes the hex into a Buffer; its binary result mode mangles non-UTF-8 bytes)
    const r = await this.db.query('SELECT data FROM binary_chunk WHERE blob_id = $1 AND seq = $2', [blobId, seq]);
    if (!r.rows.length) throw new Error(`binary chunk ${seq} of blob ${blobId} is missing`);
    return r.rows[0].data as Buffer;
  }

  async deleteBlob(blobId: string): Promise<void> {
    await this.db.query('DELETE FROM binary_chunk WHERE blob_id = $1', [blobId]);
    await this.db.query('DELETE FROM binary_blob WHERE blob_id = $1', [blobId]);
  }

  /** Removes blobs that no version points at and that are older than `olderThanMs` (aborted or failed writes). */
  async sweepOrphans(olderThanMs: number): Promise<number> {
    const r = await this.db.query(
      `SELECT b.blob_id FROM binary_blob b
        WHERE b.created_at < now() - make_interval(secs => $1::double precision / 1000)
          AND NOT EXISTS (SELECT 1 FROM binary_version v WHERE v.blob_id = b.blob_id)
        LIMIT 100`,
      [olderThanMs],
    );
    for (const row of r.rows) await this.deleteBlob(row.blob_id);
    return r.rows.length;
  }
}

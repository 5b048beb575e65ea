import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Database } from '../database/database';
import { logger } from '../logger';
import { canonicalRow, linkHash, rowHash } from './audit-chain';
import { AuditChainRepository, ChainLink } from './audit-chain.repository';
import { toAuditEvent } from './audit-event.resource';
import type { SecurityEvent } from './audit.types';

const BATCH = 5000;
export const CHAIN_EXTENSION = 'urn:fhir-r4-server:audit-chain';

export interface RetentionResult {
  removed: number;
  anchorSeq: number;
  anchorHash: string;
  files: string[];
}

/** What an export file's manifest (`.manifest.json`) says. */
export interface ExportManifest {
  fromSeq: number;
  toSeq: number;
  /** hash of position fromSeq - 1: the chain continues from it */
  previousHash: string;
  lastHash: string;
  rows: number;
  /** SHA-256 of the .ndjson file */
  sha256: string;
}

/**
 * Retention: sealed audit rows recorded before the cut-off are exported as
 * NDJSON AuditEvents (each carrying its chain position, transaction id, link
 * hash and canonical row, so the file verifies on its own), then removed; the head keeps the
 * hash of the last removed position as the anchor the remaining chain is
 * verified from. Rows go in chain order and only up to the first newer row,
 * and only over a segment that verifies: retention never destroys evidence
 * of tampering.
 */
export class AuditRetention {
  private readonly chain = new AuditChainRepository();

  constructor(
    private readonly db: Database,
    private readonly baseUrl: string,
    private readonly exportDir: string,
    private readonly recordEvent?: (e: SecurityEvent) => Promise<void>,
  ) {}

  async run(cutoff: Date): Promise<RetentionResult> {
    const result: RetentionResult = { removed: 0, anchorSeq: 0, anchorHash: '', files: [] };
    for (;;) {
      const head = await this.chain.head(this.db);
      if (!head) throw new Error('audit_head is missing');
      result.anchorSeq = head.anchorSeq;
      result.anchorHash = head.anchorHash.toString('hex');
      const links = await this.chain.links(this.db, head.anchorSeq + 1, BATCH);
      const old = this.verifiedPrefix(links, head.anchorSeq, head.anchorHash, cutoff);
      if (old.length === 0) break;
      const last = old[old.length - 1];
      const file = await this.export(old, head.anchorHash);
      const cut = await this.db.transaction(async (tx) => {
        const locked = await this.chain.head(tx, 'wait');
        if (!locked || locked.anchorSeq !== head.anchorSeq) return false; // another process got here first
        await this.chain.cut(tx, last.seq, last.hash, old.map((l) => l.eventId));
        return true;
      });
      if (!cut) continue;
      result.removed += old.length;
      result.anchorSeq = last.seq;
      result.anchorHash = last.hash.toString('hex');
      result.files.push(file);
      logger.info({ removed: old.length, anchorSeq: last.seq, anchorHash: result.anchorHash, file }, 'audit retention');
      await this.recordEvent?.({
        kind: 'audit-retention',
        success: true,
        description: `exported positions ${old[0].seq}..${last.seq} to ${path.basename(file)}; anchor ${result.anchorHash}`,
      });
      if (old.length < links.length || links.length < BATCH) break;
    }
    return result;
  }

  /** Links from the anchor on, while older than the cut-off and intact. */
  private verifiedPrefix(links: ChainLink[], anchorSeq: number, anchorHash: Buffer, cutoff: Date): ChainLink[] {
    let prev = anchorHash;
    let seq = anchorSeq;
    const out: ChainLink[] = [];
    for (const link of links) {
      if (!link.row || new Date(link.row.recorded) >= cutoff) break;
      const row = rowHash(link.row);
      const intact = !link.row.row_hash || row.equals(link.row.row_hash);
      if (link.seq !== seq + 1 || !intact || !linkHash(prev, link.seq, link.row.tx, row).equals(link.hash)) {
        logger.error({ seq: link.seq }, 'audit chain does not verify here: retention stops (run npm run audit:verify)');
        break;
      }
      out.push(link);
      prev = link.hash;
      seq = link.seq;
    }
    return out;
  }

  private async export(links: ChainLink[], previousHash: Buffer): Promise<string> {
    await fs.promises.mkdir(this.exportDir, { recursive: true });
    const name = `audit-${links[0].seq}-${links[links.length - 1].seq}`;
    const file = path.join(this.exportDir, `${name}.ndjson`);
    const lines = links.map((l) => {
      const event = toAuditEvent(l.row!, this.baseUrl);
      event.extension = [
        {
          url: CHAIN_EXTENSION,
          extension: [
            { url: 'seq', valueString: String(l.seq) },
            { url: 'tx', valueString: l.row!.tx },
            { url: 'hash', valueString: l.hash.toString('hex') },
            { url: 'canonical', valueString: canonicalRow(l.row!) },
          ],
        },
      ];
      return JSON.stringify(event);
    });
    const text = lines.join('\n') + '\n';
    const manifest: ExportManifest = {
      fromSeq: links[0].seq,
      toSeq: links[links.length - 1].seq,
      previousHash: previousHash.toString('hex'),
      lastHash: links[links.length - 1].hash.toString('hex'),
      rows: links.length,
      sha256: createHash('sha256').update(text).digest('hex'),
    };
    await writeDurably(file, text);
    await writeDurably(path.join(this.exportDir, `${name}.manifest.json`), JSON.stringify(manifest, null, 2) + '\n');
    return file;
  }
}

/** Writes and fsyncs: the rows are deleted only once their export is on disk. */
async function writeDurably(file: string, text: string): Promise<void> {
  const fh = await fs.promises.open(file, 'w');
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Verifies an export file against its manifest: every line's hash chains from the previous one. */
export function verifyExport(ndjsonFile: string): { ok: boolean; rows: number; problem?: string } {
  const manifest: ExportManifest = JSON.parse(fs.readFileSync(ndjsonFile.replace(/\.ndjson$/, '.manifest.json'), 'utf8'));
  const text = fs.readFileSync(ndjsonFile, 'utf8');
  if (createHash('sha256').update(text).digest('hex') !== manifest.sha256) return { ok: false, rows: 0, problem: 'file hash differs from the manifest' };
  let prev = Buffer.from(manifest.previousHash, 'hex');
  let rows = 0;
  for (const line of text.split('\n').filter(Boolean)) {
    const ext = JSON.parse(line).extension?.find((e: any) => e.url === CHAIN_EXTENSION)?.extension ?? [];
    const get = (k: string) => ext.find((e: any) => e.url === k)?.valueString as string;
    const seq = Number(get('seq'));
    const row = createHash('sha256').update(get('canonical'), 'utf8').digest();
    if (!linkHash(prev, seq, get('tx'), row).equals(Buffer.from(get('hash'), 'hex'))) {
      return { ok: false, rows, problem: `position ${seq} does not verify` };
    }
    prev = Buffer.from(get('hash'), 'hex');
    rows++;
  }
  const ok = rows === manifest.rows && prev.toString('hex') === manifest.lastHash;
  return ok ? { ok, rows } : { ok, rows, problem: 'file does not end at the manifest last hash' };
}

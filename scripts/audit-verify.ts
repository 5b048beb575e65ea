import { loadConfig } from '../src/config/config';
import { AuditSealer } from '../src/audit/audit-sealer';
import { verifyExport } from '../src/audit/audit-retention';
import { ChainReport, verifyAuditChain } from '../src/audit/audit-verify';
import { Database } from '../src/database/database';

/**
 * `npm run audit:verify [-- --seal] [-- --export <file.ndjson>...]`: walks the
 * audit hash chain of DATABASE_URL (or the embedded database in DATA_DIR)
 * from the retention anchor to the head and reports the first altered,
 * inserted or deleted row. Exit code 0 when intact, 1 otherwise.
 * `--seal` chains pending rows first; `--export` checks retention exports.
 */
export function formatReport(r: ChainReport): string {
  const lines = [
    r.ok ? `audit chain OK: ${r.checked} rows verified` : `audit chain BROKEN: ${r.problems.length} problem(s)`,
    `head ${r.headSeq} ${r.headHash}`,
    `anchor ${r.anchorSeq} ${r.anchorHash}`,
    `pending (not sealed yet) ${r.pending}`,
  ];
  if (r.first) {
    const p = r.first;
    lines.push(`first problem: ${p.kind} at position ${p.seq}${p.eventId ? ` (AuditEvent/${p.eventId})` : ''}: ${p.detail}`);
    for (const q of r.problems.slice(1, 20)) {
      lines.push(`  then: ${q.kind} at ${q.seq}${q.eventId ? ` (AuditEvent/${q.eventId})` : ''}: ${q.detail}`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const exports = args.flatMap((a, i) => (args[i - 1] === '--export' ? [a] : []));
  let ok = true;
  for (const file of exports) {
    const r = verifyExport(file);
    process.stdout.write(`${file}: ${r.ok ? `OK, ${r.rows} rows` : `BROKEN: ${r.problem}`}\n`);
    ok = ok && r.ok;
  }
  if (exports.length && !args.includes('--db')) process.exit(ok ? 0 : 1);
  const config = loadConfig();
  const db = await Database.connect({
    url: config.databaseUrl,
    dataDir: config.dataDir === ':memory:' ? undefined : config.dataDir,
    poolSize: 2,
    schema: config.databaseSchema,
  });
  try {
    if (args.includes('--seal')) await new AuditSealer(db).sealAll();
    const report = await verifyAuditChain(db);
    process.stdout.write(formatReport(report) + '\n');
    process.exitCode = report.ok && ok ? 0 : 1;
  } finally {
    await db.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`audit:verify failed: ${err?.message}\n`);
    process.exit(2);
  });
}

import { loadAuditConfig } from '../src/audit/audit.config';
import { AuditRetention } from '../src/audit/audit-retention';
import { AuditSealer } from '../src/audit/audit-sealer';
import { AuditRepository } from '../src/audit/audit.repository';
import { securitySubtypeCode, securityType } from '../src/audit/audit-codes';
import { loadConfig } from '../src/config/config';
import { Database } from '../src/database/database';

/**
 * `npm run audit:retention [-- --days N]`: exports audit rows older than N
 * days (default AUDIT_RETENTION_DAYS) to NDJSON in AUDIT_EXPORT_DIR
 * (default DATA_DIR/audit-export) and removes them; the chain head keeps
 * the anchor hash so `audit:verify` still verifies what remains. The server
 * runs the same job every AUDIT_RETENTION_INTERVAL_HOURS when
 * AUDIT_RETENTION_DAYS is set.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const audit = loadAuditConfig(process.env, config.dataDir);
  const i = process.argv.indexOf('--days');
  const days = i > 0 ? Number(process.argv[i + 1]) : audit.retentionDays;
  if (!days || !Number.isFinite(days) || days <= 0) {
    process.stderr.write('audit:retention: give --days N or set AUDIT_RETENTION_DAYS\n');
    process.exit(2);
  }
  const db = await Database.connect({
    url: config.databaseUrl,
    dataDir: config.dataDir === ':memory:' ? undefined : config.dataDir,
    poolSize: 2,
    schema: config.databaseSchema,
  });
  try {
    await new AuditSealer(db).sealAll();
    const repo = new AuditRepository();
    const retention = new AuditRetention(db, config.fhirBaseUrl, audit.exportDir, (e) =>
      repo.insertMany(db, [
        {
          recorded: new Date(),
          type: securityType(e.kind),
          subtype: [securitySubtypeCode(e.kind)],
          action: 'E',
          outcome: 0,
          outcomeDesc: e.description,
          patient: [],
        },
      ]),
    );
    const result = await retention.run(new Date(Date.now() - days * 86_400_000));
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await db.close();
  }
}

main().catch((err) => {
  process.stderr.write(`audit:retention failed: ${err?.message}\n`);
  process.exit(1);
});

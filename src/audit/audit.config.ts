import * as os from 'os';
import * as path from 'path';
import { ConfigError } from '../config/config';

/** Audit settings (environment, see README "Audit trail"). */
export interface AuditConfig {
  /** AUDIT_ENABLED=false turns auditing off: only for measuring its cost */
  enabled: boolean;
  /** how often the sealer chains new rows (ms) */
  sealIntervalMs: number;
  /** longest a read's audit row waits for the requests in progress to share its INSERT (ms) */
  groupCommitMs: number;
  /** rows older than this many days are exported and removed; undefined: kept forever */
  retentionDays?: number;
  /** how often the retention job runs (ms) */
  retentionIntervalMs: number;
  /** where retention writes its NDJSON exports */
  exportDir: string;
}

export const AUDIT_CONFIG = Symbol('AUDIT_CONFIG');

function int(env: NodeJS.ProcessEnv, name: string, def: number | undefined, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return Number(raw);
}

export function loadAuditConfig(env: NodeJS.ProcessEnv, dataDir: string): AuditConfig {
  const enabled = (env.AUDIT_ENABLED ?? 'true').toLowerCase();
  if (!['true', 'false', '1', '0'].includes(enabled)) {
    throw new ConfigError(`AUDIT_ENABLED must be true or false, got "${env.AUDIT_ENABLED}"`);
  }
  const base = dataDir === ':memory:' ? path.join(os.tmpdir(), 'fhir-audit') : dataDir;
  return {
    enabled: enabled === 'true' || enabled === '1',
    sealIntervalMs: int(env, 'AUDIT_SEAL_INTERVAL_MS', 1000, 10)!,
    groupCommitMs: int(env, 'AUDIT_GROUP_COMMIT_MS', 4, 0)!,
    retentionDays: int(env, 'AUDIT_RETENTION_DAYS', undefined, 1),
    retentionIntervalMs: int(env, 'AUDIT_RETENTION_INTERVAL_HOURS', 24, 1)! * 3_600_000,
    exportDir: env.AUDIT_EXPORT_DIR ? path.resolve(env.AUDIT_EXPORT_DIR) : path.join(base, 'audit-export'),
  };
}

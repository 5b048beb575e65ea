import * as os from 'os';
import * as path from 'path';
import { projectRoot } from './project-root';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** Typed configuration read once from the environment (see README "Configuration"). */
export interface AppConfig {
  port: number;
  host: string;
  publicUrl: string;
  /** `{publicUrl}/fhir` */
  fhirBaseUrl: string;
  databaseUrl?: string;
  /** `:memory:` keeps the embedded database in memory (tests) */
  dataDir: string;
  seedFile?: string;
  logLevel: LogLevel;
  /** request bodies above this many bytes are refused with 413 */
  maxBodyBytes: number;
  /** Binary payloads above this many bytes are refused with 413 */
  maxBinaryBytes: number;
  /** largest batch/transaction Bundle, in entries */
  maxBundleEntries: number;
  /** most resources one conditional delete may remove; 1 = single only (more matches: 412) */
  conditionalDeleteMax: number;
  /** new resources per write statement of a large transaction (see WriteRun.writeAll) */
  bundleWriteChunk: number;
  /** Bulk Data: seconds an export's files and status stay available after it completes */
  bulkExportExpirySeconds: number;
  /** Bulk Data: resources read per database round trip while exporting (memory stays ~ this × resource size) */
  bulkExportPageSize: number;
  /** Subscriptions: delivery attempts of a rest-hook notification (retried with backoff) before the Subscription turns to error */
  subscriptionMaxAttempts: number;
  /** server processes sharing the port (PostgreSQL only; the embedded database runs one) */
  workers: number;
  /** database pool size, per process */
  dbPoolSize: number;
  /** prepared statements for key look-ups and single-resource writes (false behind PgBouncer in transaction mode) */
  dbPreparedStatements: boolean;
  /** how often planner statistics are checked and refreshed after fast growth (ms; 0 = leave it to autovacuum) */
  analyzeIntervalMs: number;
  /** PostgreSQL schema for all tables (tests isolate themselves with it); default: public */
  databaseSchema?: string;
  /** DATABASE_URL points at an embedded PGlite socket server (tests): one connection */
  databaseUrlIsEmbedded: boolean;
  /** SMART: every FHIR route needs a bearer token. `AUTH_REQUIRED=false` is a development-only switch */
  authRequired: boolean;
  /** SMART: access token (and id_token) lifetime, seconds */
  accessTokenTtl: number;
  /** SMART: refresh token lifetime, seconds */
  refreshTokenTtl: number;
  /** SMART: how long an `online_access` refresh token chain lasts after the sign-in, seconds */
  onlineAccessTtl: number;
  /** SMART: requests per minute per client address on the login and token endpoints */
  authRateLimit: number;
  /** SMART: failed sign-ins (or client authentications) before the account is locked */
  authLockoutThreshold: number;
  /** SMART: how long a lockout lasts, seconds */
  authLockoutSeconds: number;
  /** StructureDefinitions, ValueSets and CodeSystems enforced as profiles (FHIR_PROFILES_DIR) */
  profilesDir: string;
  /** resource type → profile URLs every resource of that type must conform to (FHIR_REQUIRED_PROFILES) */
  requiredProfiles: Record<string, string[]>;
}

export class ConfigError extends Error {}

function int(env: NodeJS.ProcessEnv, name: string, def: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  }
  return Number(raw);
}

function bool(env: NodeJS.ProcessEnv, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

/** `Patient=<url> Observation=<url>` (spaces or commas between pairs) → type → profile URLs. */
function requiredProfiles(env: NodeJS.ProcessEnv): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const pair of (env.FHIR_REQUIRED_PROFILES ?? '').split(/[\s,]+/).filter(Boolean)) {
    const m = /^([A-Z][A-Za-z]+)=(\S+)$/.exec(pair);
    if (!m) throw new ConfigError(`FHIR_REQUIRED_PROFILES must be Type=profile-url pairs, got "${pair}"`);
    (out[m[1]] ??= []).push(m[2]);
  }
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const port = int(env, 'PORT', 8080, 0);
  if (port > 65535) throw new ConfigError(`PORT must be at most 65535, got "${port}"`);
  const publicUrl = (env.PUBLIC_URL || `http://localhost:${port}`).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+(\/\S*)?$/.test(publicUrl)) {
    throw new ConfigError(`PUBLIC_URL must be an http(s) origin, got "${publicUrl}"`);
  }
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or postgresql://');
  }
  const logLevel = (env.LOG_LEVEL || 'info') as LogLevel;
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of error, warn, info, debug; got "${logLevel}"`);
  }
  return {
    port,
    host: env.HOST || '0.0.0.0',
    publicUrl,
    fhirBaseUrl: `${publicUrl}/fhir`,
    databaseUrl,
    dataDir: env.DATA_DIR === ':memory:' ? ':memory:' : path.resolve(env.DATA_DIR || './data'),
    seedFile: env.SEED_FILE || undefined,
    logLevel,
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 16 * 1024 * 1024),
    maxBinaryBytes: int(env, 'MAX_BINARY_BYTES', 100 * 1024 * 1024),
    maxBundleEntries: int(env, 'MAX_BUNDLE_ENTRIES', 10000),
    conditionalDeleteMax: int(env, 'CONDITIONAL_DELETE_MAX', 1),
    bundleWriteChunk: int(env, 'BUNDLE_WRITE_CHUNK', 100),
    bulkExportExpirySeconds: int(env, 'BULK_EXPORT_EXPIRY_SECONDS', 24 * 3600),
    bulkExportPageSize: int(env, 'BULK_EXPORT_PAGE_SIZE', 1000),
    subscriptionMaxAttempts: int(env, 'SUBSCRIPTION_MAX_ATTEMPTS', 6),
    workers: int(env, 'WORKERS', 1),
    dbPoolSize: int(env, 'DB_POOL_SIZE', defaultPoolSize()),
    dbPreparedStatements: bool(env, 'DB_PREPARED_STATEMENTS', true),
    analyzeIntervalMs: int(env, 'ANALYZE_INTERVAL_MS', 5000, 0),
    databaseSchema: env.DATABASE_SCHEMA || undefined,
    databaseUrlIsEmbedded: env.DATABASE_EMBEDDED === '1',
    authRequired: bool(env, 'AUTH_REQUIRED', true),
    accessTokenTtl: int(env, 'ACCESS_TOKEN_TTL', 3600),
    refreshTokenTtl: int(env, 'REFRESH_TOKEN_TTL', 30 * 24 * 3600),
    onlineAccessTtl: int(env, 'ONLINE_ACCESS_TTL', 12 * 3600),
    authRateLimit: int(env, 'AUTH_RATE_LIMIT', 60),
    authLockoutThreshold: int(env, 'AUTH_LOCKOUT_THRESHOLD', 5),
    authLockoutSeconds: int(env, 'AUTH_LOCKOUT_SECONDS', 900),
    profilesDir: path.resolve(env.FHIR_PROFILES_DIR || path.join(projectRoot(), 'fhir-profiles')),
    requiredProfiles: requiredProfiles(env),
  };
}

/** Nest injection token for AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');

/**
 * Database connections per process: 4 per core, between 4 and 20. More connections than the
 * database machine runs at once only queue in its scheduler instead of in the pool: on the team's
 * 2-core machine 8 connections gave 15–30% more reads, creates and updates than 20, with shorter
 * tails (README, Storage design: Connection pool).
 */
export function defaultPoolSize(cores = os.availableParallelism?.() ?? os.cpus().length): number {
  return Math.min(20, Math.max(4, 4 * cores));
}

/**
 * `npm run ingest -- [options] <folder|file>...`: loads FHIR batch/transaction
 * Bundles (`*.json`, `*.json.gz`, folders searched recursively) into the
 * server. Synthea's hospital/practitioner bundles go first (patient bundles
 * reference them conditionally), then the rest, several at a time.
 *
 *   BASE=http://localhost:8080/fhir [TOKEN=…]  POST each Bundle to a running server
 *   (no BASE)                                   write straight into DATABASE_URL (or the embedded
 *                                               database in DATA_DIR) through the same BundleService
 *
 * Options: --concurrency N (bundles in flight per process, default 2),
 * --workers N (direct mode on PostgreSQL: N processes, default 2).
 * Progress goes to stderr; a final JSON line with resources/s to stdout.
 */
import 'reflect-metadata';
import { fork } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { gunzip } from 'zlib';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config/config';
import { TableStatistics } from '../src/database/table-statistics';
import { BundleService } from '../src/fhir/bundle/bundle.service';
import { logger } from '../src/logger';

const gunzipAsync = promisify(gunzip);

interface Result {
  resources: number;
  failed: number;
  detail?: string;
}
type Sink = (text: string, file: string) => Promise<Result>;

interface Progress {
  bundles: number;
  resources: number;
  failed: number;
}

function usage(): never {
  process.stderr.write('usage: npm run ingest -- [--concurrency N] [--workers N] <folder|file.json[.gz]>...\n');
  process.exit(2);
}

function parseArgs(argv: string[]) {
  const opts = { targets: [] as string[], concurrency: 2, workers: 2, worker: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--concurrency' || a === '--workers') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) usage();
      opts[a === '--concurrency' ? 'concurrency' : 'workers'] = n;
    } else if (a === '--worker') opts.worker = true;
    else if (a.startsWith('--')) usage();
    else opts.targets.push(a);
  }
  return opts;
}

/** Bundle files under the targets, infrastructure (hospital/practitioner) bundles first. */
export function listBundleFiles(targets: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name));
    else if (/\.json(\.gz)?$/i.test(p)) out.push(p);
  };
  targets.forEach((t) => walk(path.resolve(t)));
  return [...out.filter(isInfrastructure), ...out.filter((f) => !isInfrastructure(f))];
}

export const isInfrastructure = (f: string) => /(hospitalInformation|practitionerInformation)/i.test(path.basename(f));

async function readText(file: string): Promise<string> {
  const buf = await fs.promises.readFile(file);
  return (file.endsWith('.gz') ? await gunzipAsync(buf) : buf).toString('utf8');
}

/** Counts a batch/transaction-response: entries with a 2xx status are resources loaded. */
function countResponse(body: any): Result {
  let resources = 0;
  let failed = 0;
  let detail: string | undefined;
  for (const e of body?.entry ?? []) {
    if (/^2\d\d/.test(String(e.response?.status))) resources++;
    else {
      failed++;
      detail ??= `${e.response?.status} ${e.response?.outcome?.issue?.[0]?.diagnostics ?? ''}`;
    }
  }
  return { resources, failed, detail };
}

function httpSink(base: string, token?: string): Sink {
  const headers: Record<string, string> = { 'Content-Type': 'application/fhir+json', Prefer: 'return=minimal' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return async (text) => {
    const res = await fetch(base.replace(/\/+$/, ''), { method: 'POST', headers, body: text });
    const body: any = await res.json().catch(() => undefined);
    if (!res.ok) return { resources: 0, failed: 1, detail: `${res.status} ${body?.issue?.[0]?.diagnostics ?? ''}` };
    return countResponse(body);
  };
}

async function dbSink(): Promise<{ sink: Sink; close: () => Promise<void> }> {
  const config = loadConfig();
  const app = await NestFactory.createApplicationContext(AppModule.forRoot(config), { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  const bundles = app.get(BundleService);
  const ctx = { baseUrl: config.fhirBaseUrl, requestId: 'ingest', prefer: { return: 'minimal' as const } };
  const sink: Sink = async (text) => {
    try {
      const r = await bundles.process(ctx, JSON.parse(text));
      return countResponse(JSON.parse(r.body as string));
    } catch (err: any) {
      return { resources: 0, failed: 1, detail: `${err.status ?? 500} ${err.message}` };
    }
  };
  // a bulk load leaves the planner's statistics far behind: refresh them before the first searches
  const close = async () => {
    await app.get(TableStatistics).check();
    await app.close();
  };
  return { sink, close };
}

/** Feeds files to the sink, `concurrency` at a time (reading the next file while others are in flight). */
async function pump(files: string[], sink: Sink, concurrency: number, report: (r: Result, file: string) => void): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < files.length) {
      const file = files[next++];
      let r: Result;
      try {
        r = await sink(await readText(file), file);
      } catch (err: any) {
        r = { resources: 0, failed: 1, detail: err.message };
      }
      report(r, file);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, lane));
}

class Bar {
  private readonly start = Date.now();
  private last = 0;
  readonly p: Progress = { bundles: 0, resources: 0, failed: 0 };
  constructor(private readonly total: number) {}

  add(r: Result, file: string): void {
    this.p.bundles++;
    this.p.resources += r.resources;
    this.p.failed += r.failed;
    if (r.failed) process.stderr.write(`\n${path.basename(file)}: ${r.failed} failed: ${r.detail ?? ''}\n`);
    if (Date.now() - this.last > 250 || this.p.bundles === this.total) this.draw();
  }

  rate(): number {
    return this.p.resources / Math.max(0.001, (Date.now() - this.start) / 1000);
  }

  draw(): void {
    this.last = Date.now();
    const width = 30;
    const done = Math.round((this.p.bundles / Math.max(1, this.total)) * width);
    const line = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${this.p.bundles}/${this.total} bundles  ${this.p.resources} resources  ${Math.round(this.rate())} resources/s${this.p.failed ? `  ${this.p.failed} failed` : ''}`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}` : `${line}\n`);
  }

  summary(): void {
    if (process.stderr.isTTY) process.stderr.write('\n');
    const seconds = (Date.now() - this.start) / 1000;
    process.stdout.write(
      JSON.stringify({ bundles: this.p.bundles, resources: this.p.resources, failed: this.p.failed, seconds: +seconds.toFixed(2), resources_per_s: Math.round(this.rate()) }) + '\n',
    );
  }
}

/** Direct mode with several processes: each boots the server's services and takes its share of the files. */
function runWorkers(files: string[], workers: number, concurrency: number, bar: Bar): Promise<void> {
  const shares: string[][] = Array.from({ length: workers }, () => []);
  const sized = files.map((f) => ({ f, size: fs.statSync(f).size })).sort((a, b) => b.size - a.size);
  const load = new Array(workers).fill(0);
  for (const { f, size } of sized) {
    const i = load.indexOf(Math.min(...load));
    shares[i].push(f);
    load[i] += size;
  }
  return Promise.all(
    shares.filter((s) => s.length).map(
      (share) =>
        new Promise<void>((resolve, reject) => {
          const child = fork(__filename, ['--worker', '--concurrency', String(concurrency), ...share], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
          child.on('message', (m: any) => bar.add(m.result, m.file));
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ingest worker exited with ${code}`))));
        }),
    ),
  ).then(() => undefined);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (!opts.targets.length) usage();
  const files = listBundleFiles(opts.targets);
  if (opts.worker) {
    const { sink, close } = await dbSink();
    await pump(files, sink, opts.concurrency, (result, file) => process.send!({ result, file }));
    await close();
    return;
  }
  const bar = new Bar(files.length);
  const infra = files.filter(isInfrastructure);
  const rest = files.filter((f) => !isInfrastructure(f));
  const base = process.env.BASE;
  if (base) {
    const sink = httpSink(base, process.env.TOKEN);
    await pump(infra, sink, 1, (r, f) => bar.add(r, f));
    await pump(rest, sink, opts.concurrency, (r, f) => bar.add(r, f));
  } else if (process.env.DATABASE_URL && opts.workers > 1) {
    if (infra.length) await runWorkers(infra, 1, 1, bar);
    await runWorkers(rest, opts.workers, opts.concurrency, bar);
  } else {
    // the embedded database is one process's: a single worker
    const { sink, close } = await dbSink();
    await pump(infra, sink, 1, (r, f) => bar.add(r, f));
    await pump(rest, sink, opts.concurrency, (r, f) => bar.add(r, f));
    await close();
  }
  bar.draw();
  bar.summary();
  if (bar.p.failed) process.exitCode = 1;
}

if (require.main === module) {
  logger.level = process.env.LOG_LEVEL || 'warn';
  main().catch((err) => {
    process.stderr.write(`ingest failed: ${err?.message ?? err}\n`);
    process.exit(1);
  });
}

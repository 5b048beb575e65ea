// Shared helpers of the benchmarks: start the server on a fresh database, run autocannon, print JSON lines.
const { spawn, execSync } = require('child_process');
const path = require('path');
const fs = require('fs');
const autocannon = require('autocannon');
const { Client } = require('pg');

const root = path.join(__dirname, '..');
const shared = path.join(root, '..', 'shared');

/** Drops and recreates a database on the local PostgreSQL; returns its URL. */
async function freshDatabase(name, adminUrl = process.env.BENCH_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres') {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  return adminUrl.replace(/\/[^/]*$/, `/${name}`);
}

/**
 * A port free now, below the kernel's ephemeral range (32768 up): one from that range can be taken by any
 * outgoing connection (the load generator's thousands of sockets) before the server binds it (EADDRINUSE).
 */
async function freePort() {
  const net = require('net');
  for (let i = 0; i < 50; i++) {
    const p = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise((resolve) => {
      const s = net.createServer().once('error', () => resolve(false)).listen(p, '0.0.0.0', () => s.close(() => resolve(true)));
    });
    if (free) return p;
  }
  throw new Error('no free port');
}

/**
 * Starts `node <dist>/src/main.js` with env; resolves when /readyz answers. dist: this checkout's
 * `dist/` unless given, or BENCH_DIST (another build, for A/B runs of two versions with any bench).
 */
async function startServer(env, dist = process.env.BENCH_DIST || undefined) {
  const main = path.join(dist ?? path.join(root, 'dist'), 'src/main.js');
  if (!dist && !fs.existsSync(main)) execSync('npm run build', { cwd: root, stdio: 'inherit' });
  const port = env.PORT || String(await freePort());
  const child = spawn(process.execPath, [main], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: port, PUBLIC_URL: `http://127.0.0.1:${port}` },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 120; i++) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) return { child, base, fhir: `${base}/fhir`, stop: () => stop(child) };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  child.kill('SIGKILL');
  throw new Error('server did not start');
}

function stop(child) {
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10000).unref();
  });
}

/** Runs autocannon and prints one JSON line {scenario, concurrency, rps, p50_ms, p99_ms, ...}. */
function load(scenario, opts, extra = {}) {
  return new Promise((resolve, reject) => {
    autocannon({ duration: Number(process.env.DURATION || 10), ...opts }, (err, r) => {
      if (err) return reject(err);
      const line = {
        scenario,
        concurrency: opts.connections,
        requests: r.requests.total,
        rps: Math.round(r.requests.total / r.duration),
        ok: r['2xx'],
        p50_ms: r.latency.p50,
        p99_ms: r.latency.p99,
        non2xx: r.non2xx,
        errors: r.errors,
        ...extra,
      };
      process.stdout.write(JSON.stringify(line) + '\n');
      resolve(line);
    });
  });
}

/** Peak RSS of a process in MB, from /proc (Linux). */
/** The server process and its workers (WORKERS > 1 forks them: src/cluster.ts). */
function serverPids(pid) {
  try {
    return [pid, ...fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)];
  } catch {
    return [pid];
  }
}

/** Resident memory of the server: the process and its workers together, MB. */
function rssMb(pid) {
  let kb = 0;
  for (const p of serverPids(pid)) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))[1]);
    } catch {
      /* gone */
    }
  }
  return kb ? Math.round(kb / 1024) : undefined;
}

/** The median of numbers (upper middle for an even count): what alternating-slice comparisons report. */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

module.exports = { root, shared, freshDatabase, startServer, load, rssMb, serverPids, median };

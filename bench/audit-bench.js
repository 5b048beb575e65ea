#!/usr/bin/env node
// `npm run bench:audit`: the cost of the audit trail, measured in one run. Starts two servers on the
// local PostgreSQL (a fresh database each): one with AUDIT_ENABLED=false, one auditing. Then loads them
// in alternating short slices (off, on, off, on, ...) so both see the same background noise on a
// shared machine (after one unmeasured warm-up slice each), and compares the medians: reads (concurrency 32, the target: audited
// ≥ 85% of unaudited), searches and creates (concurrency 16). Also reports the CPU time per request
// of each server process plus its PostgreSQL backends (from /proc): on a CPU-bound machine the
// throughput ratio is the inverse of the CPU ratio.
// Env: SLICE (s per slice, default 4), SLICES (slices per server and scenario, default 5),
// AUDIT_SCENARIOS (comma list of read, search, create; default all).
const fs = require('fs');
const { Client } = require('pg');
const autocannon = require('autocannon');
const { freshDatabase, startServer, serverPids, median } = require('./lib');

const JSON_HEADERS = { 'content-type': 'application/fhir+json' };
const SLICE = Number(process.env.SLICE || 4);
const SLICES = Number(process.env.SLICES || 5);

/** utime + stime per process, in ms (clock ticks of 10 ms). */
function cpuMs(pids) {
  const out = new Map();
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      out.set(pid, (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      /* gone */
    }
  }
  return out;
}

async function start(audit) {
  const db = audit ? 'fhir_audit_bench_on' : 'fhir_audit_bench_off';
  const url = await freshDatabase(db);
  // no bearer tokens: the comparison is of the audit trail alone (AUTH_REQUIRED=false is a development switch)
  const server = await startServer({ DATABASE_URL: url, AUTH_REQUIRED: 'false', AUDIT_ENABLED: audit ? 'true' : 'false' });
  const admin = new Client({ connectionString: url });
  await admin.connect();
  const ids = [];
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`${server.fhir}/Patient`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `Audit${i}`, given: ['Bench'] }], gender: 'female' }),
    });
    ids.push((await r.json()).id);
  }
  const pids = async () => [...serverPids(server.child.pid), ...(await admin.query('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db])).rows.map((r) => r.pid)];
  return { audit, server, admin, ids, pids, db };
}

const scenarios = {
  read: (s) => {
    let i = 0;
    return { connections: 32, requests: [{ setupRequest: (r) => ({ ...r, path: `/fhir/Patient/${s.ids[i++ % s.ids.length]}` }) }] };
  },
  search: () => {
    let i = 0;
    return { connections: 16, requests: [{ setupRequest: (r) => ({ ...r, path: `/fhir/Patient?family=Audit${i++ % 200}` }) }] };
  },
  create: () => {
    let n = 0;
    const body = () => JSON.stringify({ resourceType: 'Patient', name: [{ family: `New${n++}` }] });
    return { connections: 16, requests: [{ method: 'POST', path: '/fhir/Patient', headers: JSON_HEADERS, setupRequest: (r) => ({ ...r, body: body() }) }] };
  },
};

async function slice(s, name, warmup = false) {
  const before = cpuMs(await s.pids());
  const r = await autocannon({ url: s.server.fhir, duration: SLICE, ...scenarios[name](s) });
  let used = 0;
  let node = 0;
  for (const [pid, ms] of cpuMs(await s.pids())) {
    used += ms - (before.get(pid) ?? 0);
    if (serverPids(s.server.child.pid).includes(pid)) node += ms - (before.get(pid) ?? 0);
  }
  const line = {
    scenario: `audit_${name}`,
    audit: s.audit,
    rps: Math.round(r.requests.total / r.duration),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    cpu_ms_per_req: Math.round((used / Math.max(1, r.requests.total)) * 1000) / 1000,
    node_cpu_ms_per_req: Math.round((node / Math.max(1, r.requests.total)) * 1000) / 1000,
  };
  if (warmup) line.warmup = true;
  process.stdout.write(JSON.stringify(line) + '\n');
  return line;
}

async function main() {
  const off = await start(false);
  const on = await start(true);
  const summary = { scenario: 'audit_overhead', slices: SLICES, slice_s: SLICE, target_read_ratio: 0.85 };
  try {
    for (const name of (process.env.AUDIT_SCENARIOS || Object.keys(scenarios).join(',')).split(',')) {
      const runs = { off: [], on: [] };
      // one unmeasured slice each first: the first seconds of a fresh process run unoptimized code
      // (measured: the audited server's first read slice at 40 % of its later ones)
      for (const s of [off, on]) await slice(s, name, true);
      for (let k = 0; k < SLICES; k++) {
        for (const s of k % 2 ? [on, off] : [off, on]) runs[s.audit ? 'on' : 'off'].push(await slice(s, name));
      }
      const rps = (xs) => median(xs.map((x) => x.rps));
      const cpu = (xs) => median(xs.map((x) => x.cpu_ms_per_req));
      summary[`${name}_rps_off`] = rps(runs.off);
      summary[`${name}_rps_on`] = rps(runs.on);
      summary[`${name}_ratio`] = Math.round((rps(runs.on) / rps(runs.off)) * 100) / 100;
      summary[`${name}_cpu_ms_per_req_off`] = cpu(runs.off);
      summary[`${name}_cpu_ms_per_req_on`] = cpu(runs.on);
      summary[`${name}_cpu_ratio`] = Math.round((cpu(runs.off) / cpu(runs.on)) * 100) / 100;
      summary[`${name}_p99_ms_off`] = median(runs.off.map((x) => x.p99_ms));
      summary[`${name}_p99_ms_on`] = median(runs.on.map((x) => x.p99_ms));
    }
    const rows = await on.admin.query('SELECT count(*)::int AS n FROM audit_event');
    summary.audit_rows = rows.rows[0].n;
    process.stdout.write(JSON.stringify(summary) + '\n');
    return summary;
  } finally {
    for (const s of [off, on]) {
      await s.server.stop();
      await s.admin.end();
    }
  }
}

module.exports = { auditOverhead: main };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`audit bench failed: ${err.stack}\n`);
    process.exit(1);
  });
}

#!/usr/bin/env node
// `npm run bench`: starts the server on the local PostgreSQL (fresh database `fhir_bench`) and
// prints JSON lines: our own create/read/update/history scenarios, then the team's yardsticks
// (../shared/bench/fhir-load.mjs against this server and bare-limit.mjs), and the ratios.
// then the audit overhead (bench/audit-bench.js) and device-rate ingest (bench/device-bench.js).
// Env: DURATION (s per scenario, default 10), BENCH_ADMIN_URL, SKIP_BUNDLES=1, SKIP_AUDIT=1, SKIP_DEVICES=1, SKIP_YARDSTICKS=1.
const path = require('path');
const fs = require('fs');
const { spawnSync } = require('child_process');
const { root, shared, freshDatabase, startServer, load, rssMb, serverPids } = require('./lib');
const { bundleScenarios } = require('./bundle-bench');
const { auditOverhead } = require('./audit-bench');
const { deviceIngest } = require('./device-bench');

const JSON_HEADERS = { 'content-type': 'application/fhir+json' };

async function ownScenarios(server) {
  let n = 0;
  const patient = () =>
    JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'urn:bench', value: `b${n++}` }], name: [{ family: `Bench${n}`, given: ['Load'] }], gender: 'female', birthDate: '1970-01-01' });
  const results = {};
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, rssMb(server.child.pid) ?? 0)), 250);
  results.create = await load('create', {
    url: server.fhir, connections: 16,
    requests: [{ method: 'POST', path: '/fhir/Patient', headers: JSON_HEADERS, setupRequest: (r) => ({ ...r, body: patient() }) }],
  });
  const ids = [];
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`${server.fhir}/Patient`, { method: 'POST', headers: JSON_HEADERS, body: patient() });
    ids.push((await r.json()).id);
  }
  let i = 0;
  results.read = await load('read', { url: server.fhir, connections: 32, requests: [{ setupRequest: (r) => ({ ...r, path: `/fhir/Patient/${ids[i++ % ids.length]}` }) }] });
  let u = 0;
  results.update = await load('update', {
    url: server.fhir, connections: 16,
    requests: [{ method: 'PUT', headers: JSON_HEADERS, setupRequest: (r) => {
      const id = ids[u++ % ids.length];
      return { ...r, path: `/fhir/Patient/${id}`, body: JSON.stringify({ resourceType: 'Patient', id, active: u % 2 === 0, name: [{ family: `Upd${u}` }] }) };
    } }],
  });
  let h = 0;
  results.history = await load('history', { url: server.fhir, connections: 16, requests: [{ setupRequest: (r) => ({ ...r, path: `/fhir/Patient/${ids[h++ % ids.length]}/_history` }) }] });
  clearInterval(sample);
  process.stdout.write(JSON.stringify({ scenario: 'server_rss', peak_mb: peak }) + '\n');
  return results;
}

/** Runs a yardstick .mjs from ../shared/bench with our node_modules (autocannon, pg) resolvable. */
function yardstick(file, env) {
  const src = path.join(shared, 'bench', file);
  if (!fs.existsSync(src)) {
    process.stderr.write(`skipping ${file}: ${src} not found\n`);
    return [];
  }
  const dir = path.join(root, 'bench', '.yardsticks');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(src, path.join(dir, file)); // a run-time copy so `import 'autocannon'` resolves here
  const r = spawnSync(process.execPath, [path.join(dir, file)], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  for (const l of lines) process.stdout.write(JSON.stringify({ yardstick: file, ...l }) + '\n');
  return lines;
}

/** A server on a fresh database of its own: every yardstick run starts from empty, as against any other server. */
async function withFreshServer(dbName, fn) {
  const url = await freshDatabase(dbName);
  // FHIR throughput without bearer tokens (the cost of SMART is measured by `npm run bench:auth`)
  const server = await startServer({ DATABASE_URL: url, AUTH_REQUIRED: 'false', ...(process.env.BENCH_SERVER_ENV ? JSON.parse(process.env.BENCH_SERVER_ENV) : {}) });
  try {
    return await fn(server, url);
  } finally {
    await server.stop().catch(() => undefined);
  }
}

function fhirLoadEnv(server, extra = {}) {
  return {
    BASE: server.fhir,
    DURATION: process.env.DURATION || '10',
    SERVER_PID: serverPids(server.child.pid).join(','),
    SYNTHEA_DIR: path.join(shared, 'fixtures', 'synthea'),
    ...(process.env.TOKEN ? { TOKEN: process.env.TOKEN } : {}),
    ...extra,
  };
}

async function main() {
  const own = await withFreshServer('fhir_bench', async (server) => {
    const results = await ownScenarios(server);
    // transaction Bundles (1 Patient + 20 Observations, c=8) and Synthea ingest resources/s
    if (!process.env.SKIP_BUNDLES) await bundleScenarios(server);
    return results;
  });
  // issue #6: read throughput audited vs unaudited, in alternating slices of one run
  const audit = process.env.SKIP_AUDIT ? undefined : await auditOverhead();
  // issue #7: 200 devices each POSTing an Observation every ~2 s, p99 latency (and rest-hook delivery)
  if (!process.env.SKIP_DEVICES) await deviceIngest();
  if (process.env.SKIP_YARDSTICKS) return;
  const fhirLoad = await withFreshServer('fhir_bench_load', async (server) => yardstick('fhir-load.mjs', fhirLoadEnv(server)));
  // fhir-load's synthea_ingest takes one set (the first); the other sets each on a fresh database
  const synthea = path.join(shared, 'fixtures', 'synthea');
  const sets = fs.existsSync(synthea) ? fs.readdirSync(synthea, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort() : [];
  for (const set of sets.slice(1)) {
    fhirLoad.push(...(await withFreshServer('fhir_bench_load', async (server) =>
      yardstick('fhir-load.mjs', fhirLoadEnv(server, { SCENARIOS: 'synthea_ingest', SYNTHEA_SET: set })))));
  }
  const bare = yardstick('bare-limit.mjs', { PGURL: await freshDatabase('fhir_bench_bare'), DURATION: process.env.DURATION || '10' });
  const by = (arr, name) => arr.find((x) => x.scenario === name);
  const ratio = (a, b) => (a && b ? Math.round((a.rps / b.rps) * 100) / 100 : undefined);
  process.stdout.write(JSON.stringify({
    scenario: 'ratios_vs_bare',
    read: ratio(by(fhirLoad, 'read'), by(bare, 'bare_read')),
    create: ratio(by(fhirLoad, 'create'), by(bare, 'bare_create')),
    own_read: ratio(own.read, by(bare, 'bare_read')),
    own_create: ratio(own.create, by(bare, 'bare_create')),
  }) + '\n');
  process.stdout.write(JSON.stringify(targets(fhirLoad, audit)) + '\n');
}

/**
 * The issues' targets that this run measures, as fhir-load measures them (the core server's, the
 * bundles issue's, the audit issue's; search at a million is `npm run bench:search`): one line with
 * each check's value, bound and whether it is met on this machine in this run.
 */
function targets(fhirLoad, audit) {
  const checks = [];
  const check = (issue, what, value, op, bound) => {
    if (value === undefined || value === null) return;
    checks.push({ issue, what, value, target: `${op} ${bound}`, met: op === '>=' ? value >= bound : value <= bound });
  };
  const line = (name) => fhirLoad.find((x) => x.scenario === name);
  for (const [name, rps, p99] of [['read', 3500, 25], ['create', 900, 40], ['update', 900, 40]]) {
    check('core', `${name} req/s`, line(name)?.rps, '>=', rps);
    check('core', `${name} p99 ms`, line(name)?.p99_ms, '<=', p99);
  }
  const rss = Math.max(...['read', 'create', 'update'].map((n) => line(n)?.server_rss_peak_mb ?? 0));
  if (rss > 0) check('core', 'server RSS peak MB', rss, '<=', 300);
  check('bundles', 'transaction resources/s', line('transaction')?.resources_per_s, '>=', 3000);
  check('bundles', 'transaction p99 ms', line('transaction')?.p99_ms, '<=', 150);
  check('bundles', 'seed_obs resources/s', line('seed_obs')?.resources_per_s, '>=', 3000);
  for (const s of fhirLoad.filter((x) => x.scenario === 'synthea_ingest' && x.resources_per_s !== undefined)) {
    check('bundles', `synthea_ingest ${s.set} resources/s`, s.resources_per_s, '>=', 3000);
  }
  check('audit', 'audited/unaudited reads', audit?.read_ratio, '>=', 0.85);
  return { scenario: 'targets', met: checks.filter((c) => c.met).length, of: checks.length, checks };
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack}\n`);
  process.exit(1);
});

#!/usr/bin/env node
// `npm run bench:search`: the search benchmark (issue "FHIR search"). Prints JSON lines.
//  1. write cost: Synthea creates at concurrency 16 with indexing off and on (a server and a fresh
//     database each), in alternating slices (WRITE_SLICES per mode, default 4, of WRITE_SLICE s, default
//     5, after a warm-up slice of WRITE_WARMUP s each, default 12), and the ratio of the medians;
//  2. data set: SEARCH_BENCH_RESOURCES (default 1,000,000) Synthea resources with fresh ids, loaded
//     straight into the database through the server's storage + indexer (kept in database
//     SEARCH_BENCH_DB, default fhir_search_bench, and reused when it already holds that many: REUSE=0 reloads);
//  3. searches: p50/p99/req/s per query kind at concurrency 16 (autocannon), with EXPLAIN ANALYZE of
//     the SQL of any kind over its target; then the team's fhir-load search scenarios;
//  4. growth: the same kinds against a tenth of the data (database `<SEARCH_BENCH_DB>_tenth`, kept too)
//     and the full set in alternating slices, so that both sizes see the same machine: p50 and mean
//     latency (concurrency / req/s) at each size, their ratio, and the entries a response returns;
//     string prefix and `_has` also with a full page at both sizes (FULL_PAGE_QUERIES).
// Env: DURATION (s per scenario, default 10), SKIP_WRITE=1, SKIP_SEARCHES=1, SKIP_YARDSTICK=1, SKIP_GROWTH=1,
// GROWTH_SLICES (per size and kind, default 4), GROWTH_SLICE (s, default 3), BENCH_ADMIN_URL.
const path = require('path');
const fs = require('fs');
const { execSync, spawnSync } = require('child_process');
const { Client } = require('pg');
const autocannon = require('autocannon');
const { root, shared, freshDatabase, startServer: startBuilt, load, median } = require('./lib');

// SEARCH_BENCH_DIST: a build elsewhere (e.g. `tsc -p tsconfig.build.json --outDir /tmp/x`), else ./dist
const DIST = process.env.SEARCH_BENCH_DIST;
if (!DIST) execSync('node scripts/ensure-build.js', { cwd: root, stdio: 'inherit' });
const { loadDataset, createBodies } = require('./search-loader');
const distPath = (p) => path.join(DIST ?? path.join(root, 'dist'), p);

/** The server of ./dist, or of SEARCH_BENCH_DIST. */
const startServer = (env) => startBuilt(env, DIST);

const N = Number(process.env.SEARCH_BENCH_RESOURCES || 1_000_000);
const DB = process.env.SEARCH_BENCH_DB || 'fhir_search_bench';
const ADMIN = process.env.BENCH_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const SERVER_ENV = { AUTH_REQUIRED: 'false', DB_POOL_SIZE: '16' };
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const JSON_HEADERS = { 'content-type': 'application/fhir+json' };
const WRITE_SLICES = Number(process.env.WRITE_SLICES || 4);
const WRITE_SLICE = Number(process.env.WRITE_SLICE || 5);
// V8 is still compiling the indexing code 5-10 s into a fresh server's creates (`--trace-opt`, 5 s slices:
// 2,350, 700, then 10-100 ms of compiling each), more code than the unindexed server runs
const WRITE_WARMUP = Number(process.env.WRITE_WARMUP || 12);

/**
 * Indexed and unindexed creates (two servers, a fresh database each) in alternating slices, after one
 * unmeasured warm-up slice each, compared by their medians: one slice each, minutes apart, differed by
 * up to 2× on a shared host.
 */
async function writeCost() {
  const bodies = createBodies(20000);
  const modes = ['off', 'on'];
  const servers = {};
  const rps = Object.fromEntries(modes.map((m) => [m, []]));
  let i = 0;
  const slice = (indexing, n) =>
    load(`create_indexing_${indexing}`, {
      url: servers[indexing].fhir,
      connections: 16,
      duration: n === 0 ? WRITE_WARMUP : WRITE_SLICE,
      requests: [{ method: 'POST', headers: JSON_HEADERS, setupRequest: (r) => { const b = bodies[i++ % bodies.length]; return { ...r, path: `/fhir/${b.type}`, body: b.body }; } }],
    }, { slice: n === 0 ? 'warm-up' : n });
  try {
    for (const indexing of modes) {
      const url = await freshDatabase(`fhir_search_bench_w_${indexing}`, ADMIN);
      servers[indexing] = await startServer({ DATABASE_URL: url, SEARCH_INDEXING: indexing, ...SERVER_ENV });
    }
    for (let n = 0; n <= WRITE_SLICES; n++) {
      for (const indexing of modes) {
        const r = await slice(indexing, n);
        if (n > 0) rps[indexing].push(r.rps);
      }
    }
  } finally {
    for (const s of Object.values(servers)) await s.stop();
  }
  const [off, on] = modes.map((m) => median(rps[m]));
  out({ scenario: 'create_throughput_ratio', slices: WRITE_SLICES, slice_s: WRITE_SLICE, unindexed_rps: off, indexed_rps: on, indexed_vs_unindexed: Math.round((on / off) * 100) / 100, target: 0.7 });
}

async function dataset(db = DB, n = N) {
  const url = ADMIN.replace(/\/[^/]*$/, `/${db}`);
  if (process.env.REUSE !== '0') {
    const c = new Client({ connectionString: ADMIN });
    await c.connect();
    const exists = (await c.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [db])).rowCount;
    await c.end();
    if (exists) {
      const d = new Client({ connectionString: url });
      await d.connect();
      const held = await d.query(`SELECT count(*)::int AS n FROM resource`).catch(() => ({ rows: [{ n: 0 }] }));
      await d.end();
      if (held.rows[0].n >= n) {
        out({ scenario: 'dataset', database: db, resources: n, reused: true });
        return url;
      }
    }
  }
  await freshDatabase(db, ADMIN);
  out({ scenario: 'dataset', database: db, ...(await loadDataset(url, n)) });
  return url;
}

/** Values the queries draw from: patients with many Observations, their identifiers and names. */
async function samples(url) {
  const c = new Client({ connectionString: url });
  await c.connect();
  const patients = (
    await c.query(`
      SELECT r.id, r.content::json->'name'->0->>'family' AS family,
             (SELECT i->>'system' || '|' || (i->>'value') FROM json_array_elements(r.content::json->'identifier') i WHERE i->>'system' = 'https://github.com/synthetichealth/synthea') AS identifier
        FROM resource r TABLESAMPLE SYSTEM (20) WHERE r.resource_type = 'Patient' LIMIT 200`)
  ).rows.filter((p) => p.family && p.identifier);
  await c.end();
  return patients;
}

/** The query kinds of the issue, each a function of a sample patient. */
const QUERIES = {
  token: (p) => `Patient?identifier=${p.identifier}`,
  string_prefix: (p) => `Patient?family=${encodeURIComponent(p.family.slice(0, 4))}`,
  date_range: (p, i) => `Encounter?date=ge20${10 + (i % 10)}-0${1 + (i % 9)}-01&date=lt20${10 + (i % 10)}-0${1 + (i % 9)}-03`,
  reference_token: (p) => `Observation?subject=Patient/${p.id}&code=http://loinc.org|8867-4`,
  chained: (p) => `Observation?subject:Patient.identifier=${p.identifier}&code=http://loinc.org|8302-2`,
  has: (p, i) => `Patient?_has:Condition:patient:code=http://snomed.info/sct|${['44054006', '59621000', '15777000', '195662009'][i % 4]}&family=${encodeURIComponent(p.family.slice(0, 2))}`,
  include: (p) => `Observation?subject=Patient/${p.id}&_include=Observation:encounter&_include=Observation:patient&_count=20`,
  sort_date: (p) => `Observation?subject=Patient/${p.id}&_sort=-date&_count=20`,
  deep_page: null, // built from next links below
};
const TARGET_MS = { include: 60 };

/**
 * Growth only: the two kinds whose matches grow with the data (a name prefix or a code matches ten
 * times as many Patients in the full set) again with a response of the same size at both sizes, a
 * full page of 5: a one-letter prefix, the `_has` code alone (three codes that 17–44% of Synthea
 * patients have). What these measure is the index's growth; the kinds above measure that plus
 * serving ~9× more matches.
 */
const FULL_PAGE_QUERIES = {
  string_prefix_full_page: (p) => `Patient?family=${encodeURIComponent(p.family.slice(0, 1))}&_count=5`,
  has_full_page: (p, i) => `Patient?_has:Condition:patient:code=http://snomed.info/sct|${['59621000', '15777000', '195662009'][i % 3]}&_count=5`,
};
const GROWTH_QUERIES = { ...QUERIES, ...FULL_PAGE_QUERIES };

/** Page links deep into a long result (following `next` as a client does), to time deep pages. */
async function deepPages(base, n) {
  const links = [];
  let next = `${base}/Observation?code=http://loinc.org|8867-4&_count=20`;
  for (let i = 0; i < 300 && next; i++) {
    const r = await (await fetch(next)).json();
    next = r.link?.find((l) => l.relation === 'next')?.url;
    if (next) links.push(next.slice(base.length + 1));
  }
  return links.slice(-n);
}

/** The request paths of a query kind on a server's data (`patients`: its samples). */
async function pathsFor(kind, patients, server) {
  const make = GROWTH_QUERIES[kind];
  return make ? patients.map((p, i) => make(p, i)) : deepPages(server.fhir, 50);
}

async function searches(url) {
  const patients = await samples(url);
  const server = await startServer({ DATABASE_URL: url, ...SERVER_ENV });
  const slow = [];
  try {
    for (const kind of Object.keys(QUERIES)) {
      const paths = await pathsFor(kind, patients, server);
      const first = await fetch(`${server.fhir}/${paths[0]}`);
      const bundle = await first.json();
      let i = 0;
      const r = await load(`search_${kind}`, {
        url: server.fhir,
        connections: 16,
        requests: [{ setupRequest: (req) => ({ ...req, path: `/fhir/${paths[i++ % paths.length]}` }) }],
      }, { example: paths[0], example_status: first.status, example_entries: bundle.entry?.length ?? 0 });
      if (r.p99_ms > (TARGET_MS[kind] ?? 30)) slow.push({ kind, path: paths[0] });
    }
  } finally {
    await server.stop();
  }
  if (slow.length) await explain(url, slow);
  return server;
}

/** EXPLAIN ANALYZE of the page SQL the server runs for each slow query kind. */
async function explain(url, slow) {
  const { Database } = require(distPath('src/database/database'));
  const { loadDefinitions } = require(distPath('src/fhir/definitions/definitions'));
  const { SearchParameterRegistry } = require(distPath('src/fhir/search/search-params'));
  const { SearchService } = require(distPath('src/fhir/search/search.service'));
  const db = await Database.connect({ url, poolSize: 1 });
  const service = new SearchService(db, new SearchParameterRegistry(loadDefinitions()), { fhirBaseUrl: 'http://127.0.0.1/fhir' });
  for (const { kind, path: p } of slow) {
    const [type, qs] = p.split('?');
    const { sql, values } = service.pageSql({ resourceType: type, params: [...new URLSearchParams(qs)] });
    const plan = await db.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, values);
    out({ explain: kind, query: p, plan: plan.rows.map((r) => r['QUERY PLAN']) });
  }
  await db.close();
}

/** The team's yardstick: fhir-load's search scenarios against this server on the loaded data. */
async function yardstick(url) {
  const src = path.join(shared, 'bench', 'fhir-load.mjs');
  if (!fs.existsSync(src)) return process.stderr.write(`skipping fhir-load: ${src} not found\n`);
  const dir = path.join(root, 'bench', '.yardsticks');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(src, path.join(dir, 'fhir-load.mjs'));
  const server = await startServer({ DATABASE_URL: url, ...SERVER_ENV });
  try {
    const r = spawnSync(process.execPath, [path.join(dir, 'fhir-load.mjs')], {
      env: { ...process.env, BASE: server.fhir, DURATION: process.env.DURATION || '10', SCENARIOS: 'search_string,search_token_ref,search_date', SERVER_PID: String(server.child.pid) },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 << 20,
    });
    for (const l of r.stdout.split('\n').filter((x) => x.startsWith('{'))) out({ yardstick: 'fhir-load.mjs', ...JSON.parse(l) });
  } finally {
    await server.stop();
  }
}

/** Matches per response of a kind (the first 20 paths): a fuller page costs more whatever the data size. */
async function meanEntries(server, paths) {
  let n = 0;
  const some = paths.slice(0, 20);
  for (const p of some) n += ((await (await fetch(`${server.fhir}/${p}`)).json()).entry ?? []).filter((e) => e.search?.mode === 'match').length;
  return Math.round((n / some.length) * 10) / 10;
}

/**
 * Search p50 at a tenth of the data and at all of it (the issue: at most 1.5× for 10× the data),
 * measured in alternating slices (small, big, big, small, …) so both sizes see the same machine:
 * on this shared machine two runs minutes apart differ by up to 2×. Mean latency is concurrency /
 * req/s (autocannon's p50 is in whole milliseconds).
 */
async function growth(bigUrl) {
  const slices = Number(process.env.GROWTH_SLICES || 4);
  const duration = Number(process.env.GROWTH_SLICE || 3);
  const smallUrl = await dataset(`${DB}_tenth`, Math.round(N / 10));
  const sizes = [];
  try {
    for (const [name, url] of [['tenth', smallUrl], ['full', bigUrl]]) {
      sizes.push({ name, patients: await samples(url), server: await startServer({ DATABASE_URL: url, ...SERVER_ENV }) });
    }
    for (const kind of Object.keys(GROWTH_QUERIES)) {
      for (const s of sizes) {
        s.paths = await pathsFor(kind, s.patients, s.server);
        s.entries = await meanEntries(s.server, s.paths);
        s.runs = [];
      }
      for (let k = 0; k < slices; k++) {
        for (const s of k % 2 ? [...sizes].reverse() : sizes) {
          let i = 0;
          const r = await autocannon({ url: s.server.fhir, connections: 16, duration, requests: [{ setupRequest: (req) => ({ ...req, path: `/fhir/${s.paths[i++ % s.paths.length]}` }) }] });
          s.runs.push({ rps: r.requests.total / r.duration, p50: r.latency.p50 });
        }
      }
      const [tenth, full] = sizes.map((s) => ({ rps: median(s.runs.map((x) => x.rps)), p50: median(s.runs.map((x) => x.p50)), entries: s.entries }));
      out({
        scenario: `growth_${kind}`,
        p50_ms: [tenth.p50, full.p50],
        mean_ms: [16 / tenth.rps, 16 / full.rps].map((x) => Math.round(x * 10000) / 10),
        rps: [Math.round(tenth.rps), Math.round(full.rps)],
        entries: [tenth.entries, full.entries],
        growth_p50: Math.round((full.p50 / tenth.p50) * 100) / 100,
        growth_mean: Math.round((tenth.rps / full.rps) * 100) / 100,
        target: 1.5,
      });
    }
  } finally {
    for (const s of sizes) await s.server.stop();
  }
}

async function main() {
  if (!process.env.SKIP_WRITE) await writeCost();
  const url = await dataset();
  if (!process.env.SKIP_SEARCHES) await searches(url);
  if (!process.env.SKIP_YARDSTICK) await yardstick(url);
  if (!process.env.SKIP_GROWTH) await growth(url);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});

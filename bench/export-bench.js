#!/usr/bin/env node
// `npm run bench:export`: Bulk Data $export of a large system. Starts the server on the local PostgreSQL
// (fresh database `fhir_export_bench`), fills the `resource` table with RESOURCES Observations straight in
// SQL (the export reads current resources only; history and search rows are not needed for a system
// export), kicks off `/fhir/$export`, polls the status URL and samples the server's RSS until the
// manifest arrives, then checks the NDJSON line count.
// Prints one JSON line: {scenario: 'bulk_export', resources, seconds, resources_per_s, server_rss_peak_mb, lines}.
// Env: RESOURCES (1000000), BENCH_ADMIN_URL.
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { Client } = require('pg');
const { freshDatabase, startServer, rssMb } = require('./lib');

const RESOURCES = Number(process.env.RESOURCES || 1_000_000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function fill(url, n) {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    for (let from = 1; from <= n; from += 100_000) {
      const to = Math.min(n, from + 99_999);
      await c.query(
        `INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content)
         SELECT 'Observation', 'obs-' || g, 1, now() - interval '1 minute', false,
                '{"resourceType":"Observation","id":"obs-' || g || '","meta":{"versionId":"1","lastUpdated":"2024-01-01T00:00:00.000Z"},' ||
                '"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],' ||
                '"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"subject":{"reference":"Patient/p' || (g % 1000) ||
                '"},"effectiveDateTime":"2024-01-01T08:00:00Z","valueQuantity":{"value":' || (60 + g % 40) || ',"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}'
           FROM generate_series($1::int, $2::int) g`,
        [from, to],
      );
    }
    await c.query('ANALYZE resource'); // as autovacuum would after a load this size
  } finally {
    await c.end();
  }
}

async function countLines(file) {
  let n = 0;
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) if (line) n++;
  return n;
}

async function main() {
  const url = await freshDatabase('fhir_export_bench');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'export-bench-'));
  const server = await startServer({ DATABASE_URL: url, AUTH_REQUIRED: 'false', DATA_DIR: dataDir });
  try {
    await fill(url, RESOURCES);
    const baseline = rssMb(server.child.pid);
    const started = Date.now();
    const kick = await fetch(`${server.fhir}/$export?_type=Observation`, { headers: { prefer: 'respond-async', accept: 'application/fhir+json' } });
    if (kick.status !== 202) throw new Error(`kick-off answered ${kick.status}`);
    const status = kick.headers.get('content-location');
    let peak = baseline ?? 0;
    let manifest;
    for (;;) {
      peak = Math.max(peak, rssMb(server.child.pid) ?? 0);
      const r = await fetch(status);
      if (r.status === 200) {
        manifest = await r.json();
        break;
      }
      if (r.status !== 202) throw new Error(`status answered ${r.status}`);
      await sleep(250);
    }
    const seconds = (Date.now() - started) / 1000;
    const id = new URL(status).searchParams.get('_jobId');
    const lines = await countLines(path.join(dataDir, 'bulk-export', id, 'Observation.ndjson'));
    process.stdout.write(JSON.stringify({
      scenario: 'bulk_export', resources: RESOURCES, seconds: Math.round(seconds * 10) / 10,
      resources_per_s: Math.round(RESOURCES / seconds), server_rss_baseline_mb: baseline, server_rss_peak_mb: peak,
      lines, manifest_count: manifest.output[0]?.count,
    }) + '\n');
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});

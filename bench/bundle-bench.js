#!/usr/bin/env node
// Bundle benchmarks: transaction Bundles of 1 Patient + 20 Observations with urn:uuid references
// (concurrency 8), and Synthea ingest (resources/s) through `npm run ingest` against the server.
// Standalone: `node bench/bundle-bench.js` starts the server on a fresh local database; `run.js` may
// call bundleScenarios(server) instead. Env: DURATION (s, default 10), SYNTHEA_SETS (comma list of
// folders under ../shared/fixtures/synthea, default all), BENCH_ADMIN_URL.
const path = require('path');
const fs = require('fs');
const { randomUUID } = require('crypto');
const { spawnSync } = require('child_process');
const { root, shared, freshDatabase, startServer, load } = require('./lib');

const OBS = 20;
const VITALS = [
  ['8867-4', 'Heart rate', '/min', 50, 110],
  ['9279-1', 'Respiratory rate', '/min', 10, 25],
  ['8310-5', 'Body temperature', 'Cel', 36, 39],
  ['29463-7', 'Body weight', 'kg', 40, 120],
];

function transactionBody(n) {
  const p = `urn:uuid:${randomUUID()}`;
  const entry = [
    {
      fullUrl: p,
      resource: { resourceType: 'Patient', identifier: [{ system: 'urn:bench:tx', value: `tx-${n}` }], name: [{ family: `Bundle${n}`, given: ['Bench'] }], gender: 'female', birthDate: '1980-05-17' },
      request: { method: 'POST', url: 'Patient' },
    },
  ];
  for (let i = 0; i < OBS; i++) {
    const [code, display, unit, lo, hi] = VITALS[i % VITALS.length];
    entry.push({
      fullUrl: `urn:uuid:${randomUUID()}`,
      resource: {
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
        code: { coding: [{ system: 'http://loinc.org', code, display }] },
        subject: { reference: p },
        effectiveDateTime: new Date(Date.UTC(2022, 0, 1) + (n * OBS + i) * 3600_000).toISOString(),
        valueQuantity: { value: Math.round((lo + ((n * 31 + i * 17) % 100) / 100 * (hi - lo)) * 10) / 10, unit, system: 'http://unitsofmeasure.org', code: unit },
      },
      request: { method: 'POST', url: 'Observation' },
    });
  }
  return JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry });
}

async function transactionScenario(server) {
  let n = 0;
  const line = await load(
    'bundle_transaction',
    {
      url: server.fhir,
      connections: 8,
      requests: [{ method: 'POST', path: '/fhir', headers: { 'content-type': 'application/fhir+json' }, setupRequest: (r) => ({ ...r, body: transactionBody(n++) }) }],
    },
    { resources_per_bundle: OBS + 1 },
  );
  const resourcesPerS = Math.round((line.ok / (Number(process.env.DURATION || 10))) * (OBS + 1));
  process.stdout.write(JSON.stringify({ scenario: 'bundle_transaction_resources', resources_per_s: resourcesPerS, p99_ms: line.p99_ms }) + '\n');
  return { ...line, resources_per_s: resourcesPerS };
}

/** Ingests each Synthea set through the HTTP API with scripts/ingest (infrastructure bundles first). */
function syntheaScenarios(server) {
  const dir = path.join(shared, 'fixtures', 'synthea');
  if (!fs.existsSync(dir)) {
    process.stdout.write(JSON.stringify({ scenario: 'synthea_ingest', skipped: true, reason: `no ${dir}` }) + '\n');
    return [];
  }
  const sets = (process.env.SYNTHEA_SETS || fs.readdirSync(dir).filter((d) => fs.statSync(path.join(dir, d)).isDirectory()).join(',')).split(',');
  const out = [];
  for (const set of sets) {
    const r = spawnSync(process.execPath, [path.join(root, 'dist/scripts/ingest.js'), '--concurrency', '2', path.join(dir, set)], {
      env: { ...process.env, BASE: server.fhir },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const last = r.stdout.trim().split('\n').filter((l) => l.startsWith('{"bundles"')).pop();
    const line = { scenario: 'synthea_ingest', set, ...(last ? JSON.parse(last) : { error: `ingest exited ${r.status}` }) };
    process.stdout.write(JSON.stringify(line) + '\n');
    out.push(line);
  }
  return out;
}

async function bundleScenarios(server) {
  return { transaction: await transactionScenario(server), synthea: syntheaScenarios(server) };
}

module.exports = { bundleScenarios, transactionBody };

if (require.main === module) {
  (async () => {
    const url = await freshDatabase('fhir_bundle_bench');
    const server = await startServer({ DATABASE_URL: url, AUTH_REQUIRED: 'false' });
    try {
      await bundleScenarios(server);
    } finally {
      await server.stop();
    }
  })().catch((err) => {
    process.stderr.write(`bundle bench failed: ${err.stack}\n`);
    process.exit(1);
  });
}

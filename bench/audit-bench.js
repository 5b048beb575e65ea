#!/usr/bin/env node
// `npm run bench:audit`: the cost of the audit trail, measured in one run. Starts the server on the
// local PostgreSQL twice (fresh database each), with AUDIT_ENABLED=false and with auditing on, and
// loads both the same way: reads (concurrency 32, the target: audited ≥ 85% of unaudited),
// searches and creates (concurrency 16). Prints JSON lines per scenario, then the ratios.
// Env: DURATION (s per scenario, default 10), ROUNDS (off/on pairs, default 2; the best of each is kept).
const { freshDatabase, startServer, load } = require('./lib');

const JSON_HEADERS = { 'content-type': 'application/fhir+json' };
const rounds = Number(process.env.ROUNDS || 2);

async function scenarios(audit, round) {
  const url = await freshDatabase('fhir_audit_bench');
  // no bearer tokens: the comparison is of the audit trail alone (AUTH_REQUIRED=false is a development switch)
  const server = await startServer({ DATABASE_URL: url, AUTH_REQUIRED: 'false', AUDIT_ENABLED: audit ? 'true' : 'false' });
  const tag = { audit, round };
  try {
    const ids = [];
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`${server.fhir}/Patient`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `Audit${i}`, given: ['Bench'] }], gender: 'female' }),
      });
      ids.push((await r.json()).id);
    }
    let i = 0;
    const read = await load('audit_read', { url: server.fhir, connections: 32, requests: [{ setupRequest: (r) => ({ ...r, path: `/fhir/Patient/${ids[i++ % ids.length]}` }) }] }, tag);
    let s = 0;
    const search = await load('audit_search', { url: server.fhir, connections: 16, requests: [{ setupRequest: (r) => ({ ...r, path: `/fhir/Patient?family=Audit${s++ % 200}` }) }] }, tag);
    let n = 0;
    const create = await load('audit_create', {
      url: server.fhir,
      connections: 16,
      requests: [{ method: 'POST', path: '/fhir/Patient', headers: JSON_HEADERS, setupRequest: (r) => ({ ...r, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `New${n++}` }] }) }) }],
    }, tag);
    return { read, search, create };
  } finally {
    await server.stop();
  }
}

async function main() {
  const best = { off: {}, on: {} };
  for (let round = 1; round <= rounds; round++) {
    for (const audit of round % 2 ? [false, true] : [true, false]) {
      const r = await scenarios(audit, round);
      const key = audit ? 'on' : 'off';
      for (const [k, v] of Object.entries(r)) if (!best[key][k] || v.rps > best[key][k].rps) best[key][k] = v;
    }
  }
  const ratio = (k) => Math.round((best.on[k].rps / best.off[k].rps) * 100) / 100;
  process.stdout.write(
    JSON.stringify({
      scenario: 'audit_overhead',
      read_rps_off: best.off.read.rps,
      read_rps_on: best.on.read.rps,
      read_ratio: ratio('read'),
      read_p99_off: best.off.read.p99_ms,
      read_p99_on: best.on.read.p99_ms,
      search_ratio: ratio('search'),
      create_ratio: ratio('create'),
      target_read_ratio: 0.85,
    }) + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`audit bench failed: ${err.stack}\n`);
  process.exit(1);
});

#!/usr/bin/env node
// `npm run bench:auth`: the cost of SMART authorization on the hot path, measured in one run. Two servers
// on the local PostgreSQL (a fresh database each): one with AUTH_REQUIRED=false (requests without a
// token), one checking bearer tokens. Loaded in alternating slices (off, on, off, on, ...) so both see the
// same background noise, compared by medians: reads and searches with a system token (unbounded: token
// cache + revocation set, no SQL), and with a patient token (the compartment check adds one indexed query
// to a read; searches carry the compartment predicate).
// Env: SLICE (s per slice, default 4), SLICES (slices per server and scenario, default 3).
const fs = require('fs');
const os = require('os');
const path = require('path');
const { createHash, randomBytes } = require('crypto');
const autocannon = require('autocannon');
const { Client } = require('pg');
const { freshDatabase, startServer, median } = require('./lib');

const SLICE = Number(process.env.SLICE || 4);
const SLICES = Number(process.env.SLICES || 3);
const JSON_HEADERS = { 'content-type': 'application/fhir+json' };
const REDIRECT = 'http://localhost:9/cb';

const seed = {
  clients: [
    { client_id: 'bench', client_secret: 'bench-secret', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post', scope: 'system/*.cruds' },
    { client_id: 'bench-app', grant_types: ['authorization_code'], token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], scope: 'patient/*.rs' },
  ],
  users: [{ username: 'pat', password: 'pat pw', fhirUser: 'Patient/p0' }],
};

async function systemToken(base) {
  const r = await fetch(`${base}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'bench', client_secret: 'bench-secret' }),
  });
  return (await r.json()).access_token;
}

/** The authorization code flow through the HTML pages, as a browser would. */
async function patientToken(base, fhir) {
  const verifier = randomBytes(32).toString('base64url');
  const q = new URLSearchParams({
    response_type: 'code', client_id: 'bench-app', redirect_uri: REDIRECT, scope: 'patient/*.rs', state: 's', aud: fhir,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  });
  const start = await fetch(`${base}/auth/authorize?${q}`);
  const cookie = start.headers.get('set-cookie').split(';')[0];
  const fields = (html) => Object.fromEntries([...html.matchAll(/name="(request|csrf_token)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const post = (p, body) => fetch(`${base}/auth/${p}`, { method: 'POST', headers: { cookie }, body: new URLSearchParams(body), redirect: 'manual' });
  const consent = await (await post('login', { ...fields(await start.text()), username: 'pat', password: 'pat pw' })).text();
  const done = await post('consent', { ...fields(consent), decision: 'allow' });
  const code = new URL(done.headers.get('location')).searchParams.get('code');
  const t = await fetch(`${base}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: 'bench-app' }),
  });
  return (await t.json()).access_token;
}

async function start(auth) {
  const seedFile = path.join(os.tmpdir(), `auth-bench-seed-${process.pid}.json`);
  fs.writeFileSync(seedFile, JSON.stringify(seed));
  const url = await freshDatabase(auth ? 'fhir_auth_bench_on' : 'fhir_auth_bench_off');
  const server = await startServer({ DATABASE_URL: url, AUTH_REQUIRED: auth ? 'true' : 'false', SEED_FILE: seedFile, AUTH_RATE_LIMIT: '100000' });
  const system = await systemToken(server.base);
  const headers = auth ? { authorization: `Bearer ${system}` } : {};
  const obsIds = [];
  for (let p = 0; p < 20; p++) {
    await fetch(`${server.fhir}/Patient/p${p}`, { method: 'PUT', headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify({ resourceType: 'Patient', id: `p${p}` }) });
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`${server.fhir}/Observation`, {
        method: 'POST',
        headers: { ...JSON_HEADERS, ...headers },
        body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'hr' }, subject: { reference: `Patient/p${p}` } }),
      });
      if (p === 0) obsIds.push((await r.json()).id);
    }
  }
  // fresh tables have no planner statistics yet (autovacuum would gather them on a live database)
  const pg = new Client({ connectionString: url });
  await pg.connect();
  await pg.query('ANALYZE');
  await pg.end();
  const patient = auth ? await patientToken(server.base, server.fhir) : undefined;
  return { auth, server, obsIds, tokens: { system, patient } };
}

const scenarios = {
  read_system: (s) => ({ token: s.tokens.system, path: (i) => `/fhir/Observation/${s.obsIds[i % s.obsIds.length]}` }),
  read_patient: (s) => ({ token: s.tokens.patient, path: (i) => `/fhir/Observation/${s.obsIds[i % s.obsIds.length]}` }),
  search_patient: (s) => ({ token: s.tokens.patient, path: () => '/fhir/Observation?code:text=hr&_count=10' }),
};

async function slice(s, name) {
  const sc = scenarios[name](s);
  let i = 0;
  const headers = s.auth ? { authorization: `Bearer ${sc.token}` } : {};
  const r = await autocannon({
    url: s.server.fhir,
    duration: SLICE,
    connections: 16,
    requests: [{ headers, setupRequest: (req) => ({ ...req, path: sc.path(i++) }) }],
  });
  const line = { scenario: `auth_${name}`, auth: s.auth, rps: Math.round(r.requests.total / r.duration), p50_ms: r.latency.p50, p99_ms: r.latency.p99, non2xx: r.non2xx };
  process.stdout.write(JSON.stringify(line) + '\n');
  return line;
}

async function main() {
  const off = await start(false);
  const on = await start(true);
  const summary = { scenario: 'auth_overhead', slices: SLICES, slice_s: SLICE };
  try {
    for (const name of Object.keys(scenarios)) {
      const runs = { off: [], on: [] };
      for (let k = 0; k < SLICES; k++) {
        for (const s of k % 2 ? [on, off] : [off, on]) runs[s.auth ? 'on' : 'off'].push(await slice(s, name));
      }
      const rps = (xs) => median(xs.map((x) => x.rps));
      summary[`${name}_rps_off`] = rps(runs.off);
      summary[`${name}_rps_on`] = rps(runs.on);
      summary[`${name}_ratio`] = Math.round((rps(runs.on) / rps(runs.off)) * 100) / 100;
      summary[`${name}_non2xx_on`] = runs.on.reduce((n, x) => n + x.non2xx, 0);
    }
    process.stdout.write(JSON.stringify(summary) + '\n');
  } finally {
    await off.server.stop();
    await on.server.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`auth bench failed: ${err.stack}\n`);
  process.exit(1);
});

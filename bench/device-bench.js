#!/usr/bin/env node
// `npm run bench:devices`: device-rate ingest for remote patient monitoring. Starts the server on the local
// PostgreSQL (fresh database `fhir_device_bench`), creates one Patient per simulated device, then each of
// DEVICES devices POSTs a heart-rate Observation every INTERVAL_MS (± 20% jitter) for DURATION seconds.
// With SUBSCRIBE=1 (default) a rest-hook Subscription on a heart-rate code for one in ten patients runs
// meanwhile, and the time from the create's response to the notification's arrival is measured too.
// Prints JSON lines: {scenario: 'device_ingest', devices, rps, p50_ms, p99_ms, ...}, {scenario: 'subscription_latency', ...}.
// Env: DEVICES (200), INTERVAL_MS (2000), DURATION (30 s), SUBSCRIBE (1), BENCH_ADMIN_URL.
const http = require('http');
const { freshDatabase, startServer, rssMb } = require('./lib');

const DEVICES = Number(process.env.DEVICES || 200);
const INTERVAL_MS = Number(process.env.INTERVAL_MS || 2000);
const DURATION_S = Number(process.env.DURATION || 30);
const SUBSCRIBE = process.env.SUBSCRIBE !== '0';
const HEADERS = { 'content-type': 'application/fhir+json' };

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : undefined);
const round = (x) => (x === undefined ? undefined : Math.round(x * 10) / 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function observation(patient, n) {
  return JSON.stringify({
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patient}` },
    device: { display: `monitor-${patient}` },
    effectiveDateTime: new Date().toISOString(),
    valueQuantity: { value: 60 + (n % 40), unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
  });
}

/** A local rest-hook endpoint: records when each notified Observation id arrived. */
async function receiver() {
  const arrivals = new Map();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      try {
        arrivals.set(JSON.parse(body).id, Date.now());
      } catch {
        /* not ours */
      }
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/hook`, arrivals, close: () => server.close() };
}

async function main() {
  const url = await freshDatabase('fhir_device_bench');
  const server = await startServer({ DATABASE_URL: url, AUTH_REQUIRED: 'false' });
  const hook = SUBSCRIBE ? await receiver() : undefined;
  try {
    const patients = [];
    for (let i = 0; i < DEVICES; i++) {
      const r = await fetch(`${server.fhir}/Patient`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `Device${i}` }] }) });
      patients.push((await r.json()).id);
    }
    const watched = new Set(patients.filter((_, i) => i % 10 === 0));
    if (hook) {
      for (const p of watched) {
        await fetch(`${server.fhir}/Subscription`, {
          method: 'POST',
          headers: HEADERS,
          body: JSON.stringify({
            resourceType: 'Subscription', status: 'requested', reason: 'bench',
            criteria: `Observation?code=http://loinc.org|8867-4&patient=Patient/${p}`,
            channel: { type: 'rest-hook', endpoint: hook.url, payload: 'application/fhir+json' },
          }),
        });
      }
      await sleep(2000); // activation
    }

    const latencies = [];
    const created = new Map(); // watched Observation id → response time
    let errors = 0;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(server.child.pid) ?? 0)), 500);
    const end = Date.now() + DURATION_S * 1000;
    const device = async (patient, i) => {
      await sleep((i / DEVICES) * INTERVAL_MS); // spread the devices over one interval
      let n = 0;
      while (Date.now() < end) {
        const next = Date.now() + INTERVAL_MS * (0.8 + Math.random() * 0.4);
        const t0 = performance.now();
        try {
          const r = await fetch(`${server.fhir}/Observation`, { method: 'POST', headers: { ...HEADERS, prefer: 'return=minimal' }, body: observation(patient, n++) });
          await r.arrayBuffer();
          if (r.status !== 201) errors++;
          else {
            latencies.push(performance.now() - t0);
            if (watched.has(patient)) created.set(/Observation\/([^/]+)/.exec(r.headers.get('location'))[1], Date.now());
          }
        } catch {
          errors++;
        }
        await sleep(Math.max(0, next - Date.now()));
      }
    };
    const started = Date.now();
    await Promise.all(patients.map((p, i) => device(p, i)));
    const elapsed = (Date.now() - started) / 1000;
    clearInterval(sampler);
    latencies.sort((a, b) => a - b);
    process.stdout.write(JSON.stringify({
      scenario: 'device_ingest', devices: DEVICES, interval_ms: INTERVAL_MS, subscriptions: hook ? watched.size : 0,
      requests: latencies.length, errors, rps: Math.round(latencies.length / elapsed),
      p50_ms: round(pct(latencies, 50)), p95_ms: round(pct(latencies, 95)), p99_ms: round(pct(latencies, 99)), max_ms: round(latencies[latencies.length - 1]),
      server_rss_peak_mb: peak,
    }) + '\n');

    if (hook) {
      await sleep(3000); // the last notifications
      const delays = [...created].filter(([id]) => hook.arrivals.has(id)).map(([id, at]) => hook.arrivals.get(id) - at).sort((a, b) => a - b);
      process.stdout.write(JSON.stringify({
        scenario: 'subscription_latency', notifications_expected: created.size, delivered: delays.length,
        p50_ms: pct(delays, 50), p99_ms: pct(delays, 99), max_ms: delays[delays.length - 1],
        within_1s: delays.filter((d) => d <= 1000).length,
      }) + '\n');
    }
  } finally {
    hook?.close();
    await server.stop();
  }
}

module.exports = { deviceIngest: main };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  });
}

#!/usr/bin/env node
// `npm run bench:binary`: a SIZE_MB (100) raw Binary upload and download through the server on the local
// PostgreSQL (fresh database `fhir_binary_bench`), streamed both ways, with the server's RSS sampled every
// 100 ms: shows that the document never sits whole in the Node heap. Prints one JSON line.
const crypto = require('crypto');
const { Readable } = require('stream');
const { freshDatabase, startServer, rssMb } = require('./lib');

const SIZE_MB = Number(process.env.SIZE_MB || 100);

async function main() {
  const url = await freshDatabase('fhir_binary_bench');
  const server = await startServer({ DATABASE_URL: url, AUTH_REQUIRED: 'false' });
  try {
    const baseline = rssMb(server.child.pid);
    let peak = baseline ?? 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(server.child.pid) ?? 0)), 100);
    const piece = crypto.randomBytes(1024 * 1024);
    const sent = crypto.createHash('sha256');
    async function* document() {
      for (let i = 0; i < SIZE_MB; i++) {
        sent.update(piece);
        yield piece;
      }
    }
    let t = Date.now();
    const up = await fetch(`${server.fhir}/Binary`, { method: 'POST', headers: { 'content-type': 'application/dicom' }, body: Readable.from(document()), duplex: 'half' });
    const id = (await up.json()).id;
    const uploadMs = Date.now() - t;
    const uploadPeak = peak;
    t = Date.now();
    const down = await fetch(`${server.fhir}/Binary/${id}`, { headers: { accept: 'application/dicom' } });
    const got = crypto.createHash('sha256');
    let bytes = 0;
    for await (const c of down.body) {
      got.update(c);
      bytes += c.length;
    }
    const downloadMs = Date.now() - t;
    clearInterval(sampler);
    process.stdout.write(JSON.stringify({
      scenario: 'binary_stream', size_mb: SIZE_MB, upload_status: up.status, byte_exact: bytes === SIZE_MB * 1024 * 1024 && sent.digest('hex') === got.digest('hex'),
      upload_mb_s: Math.round((SIZE_MB / uploadMs) * 1000), download_mb_s: Math.round((SIZE_MB / downloadMs) * 1000),
      server_rss_baseline_mb: baseline, server_rss_peak_upload_mb: uploadPeak, server_rss_peak_mb: peak,
    }) + '\n');
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});

// Data set of the search benchmark: Synthea patient bundles (../shared/fixtures/synthea/blaze)
// replicated with fresh ids until N resources, written straight into the database in batches
// through the server's own storage + indexer (same rows as the API would write, set-based SQL).
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { randomUUID } = require('crypto');
const { root, shared } = require('./lib');

const dist = (p) => require(path.join(process.env.SEARCH_BENCH_DIST ?? path.join(root, 'dist'), p));
const SET = path.join(shared, 'fixtures', 'synthea', 'blaze');
const UUID = /urn:uuid:([0-9a-f-]{36})/g;

let makeId;

/** A new id as the server makes one (a time-ordered UUID, src/uuidv7.ts); with a build from before it, a random one. */
function newId() {
  if (!makeId) {
    try {
      makeId = dist('src/uuidv7.js').uuidv7;
    } catch {
      makeId = randomUUID;
    }
  }
  return makeId();
}

function readBundle(file) {
  return JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8'));
}

/** Infrastructure resources (organizations, locations, practitioners) with ids, and `Type?identifier=s|v` → `Type/id`. */
function infrastructure() {
  const resources = [];
  const conditional = new Map();
  for (const f of fs.readdirSync(SET).filter((x) => /Information/.test(x))) {
    for (const e of readBundle(path.join(SET, f)).entry) {
      const r = e.resource;
      r.id = newId();
      resources.push(r);
      for (const i of r.identifier ?? []) conditional.set(`${r.resourceType}?identifier=${i.system}|${i.value}`, `${r.resourceType}/${r.id}`);
    }
  }
  return { resources, conditional };
}

/** One copy of a patient bundle: every uuid replaced by a fresh one, references as `Type/id`. */
function copyOf(text, types, conditional) {
  const fresh = new Map();
  const idOf = (u) => fresh.get(u) ?? (fresh.set(u, newId()), fresh.get(u));
  const rewritten = text
    .replace(/"reference":"urn:uuid:([0-9a-f-]{36})"/g, (m, u) => (types.has(u) ? `"reference":"${types.get(u)}/${idOf(u)}"` : m))
    .replace(/"reference":"([A-Za-z]+\?identifier=[^"]+)"/g, (m, c) => (conditional.has(c) ? `"reference":"${conditional.get(c)}"` : m))
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (u) => (types.has(u) ? idOf(u) : u));
  return JSON.parse(rewritten).map((e) => {
    e.resource.id = e.fullUrl.slice(9).replace(UUID, '$1');
    return e.resource;
  });
}

/** Loads N resources into the database at url (schema migrated first). Returns counts and time. */
async function loadDataset(url, total, log = (m) => process.stderr.write(m + '\n')) {
  const { Database } = dist('src/database/database');
  const { loadDefinitions } = dist('src/fhir/definitions/definitions');
  const { SearchParameterRegistry } = dist('src/fhir/search/search-params');
  const { SearchIndexer } = dist('src/fhir/search/search-indexer');
  const { StorageService } = dist('src/fhir/storage/storage.service');
  const db = await Database.connect({ url, poolSize: 3 });
  await db.migrate();
  const indexer = new SearchIndexer(new SearchParameterRegistry(loadDefinitions()), 'http://127.0.0.1/fhir');
  const storage = new StorageService(db, indexer);
  const { resources: infra, conditional } = infrastructure();
  const files = fs.readdirSync(SET).filter((f) => !/Information/.test(f)).sort();
  const bundles = files.map((f) => {
    const b = readBundle(path.join(SET, f));
    const types = new Map(b.entry.map((e) => [e.fullUrl.slice(9), e.resource.resourceType]));
    return { text: JSON.stringify(b.entry.map((e) => ({ fullUrl: e.fullUrl, resource: e.resource }))), types };
  });
  let written = 0;
  const inflight = new Set();
  const t0 = Date.now();
  const flush = async (batch) => {
    const now = new Date();
    const writes = batch.map((r) => storage.prepare(r, r.id, 1, 'POST', now));
    const p = storage.resources.insertVersions(db, writes).then(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 2) await Promise.race(inflight);
  };
  let batch = [];
  const add = async (r) => {
    batch.push(r);
    written++;
    if (batch.length >= 500) {
      await flush(batch);
      batch = [];
    }
    if (written % 50000 === 0) log(`loaded ${written} resources (${Math.round(written / ((Date.now() - t0) / 1000))}/s)`);
  };
  for (const r of infra) await add(r);
  for (let copy = 0; written < total; copy++) {
    for (const b of bundles) {
      if (written >= total) break;
      for (const r of copyOf(b.text, b.types, conditional)) {
        if (written >= total) break;
        await add(r);
      }
    }
  }
  if (batch.length) await flush(batch);
  await Promise.all(inflight);
  const seconds = (Date.now() - t0) / 1000;
  log(`loaded ${written} resources in ${seconds.toFixed(0)} s; vacuum analyze ...`);
  await db.query('VACUUM ANALYZE resource');
  await db.query('VACUUM ANALYZE search_index');
  const size = await db.query(`SELECT pg_size_pretty(pg_total_relation_size('search_index')) AS index_total, pg_size_pretty(pg_total_relation_size('resource')) AS resource_total, (SELECT count(*) FROM search_index)::bigint AS rows`);
  await db.close();
  return { resources: written, seconds, load_rps: Math.round(written / seconds), ...size.rows[0] };
}

/** Synthea resources for create requests (references rewritten, no ids). */
function createBodies(n) {
  const { conditional } = infrastructure();
  const out = [];
  for (const f of fs.readdirSync(SET).filter((x) => !/Information/.test(x)).sort()) {
    const b = readBundle(path.join(SET, f));
    const types = new Map(b.entry.map((e) => [e.fullUrl.slice(9), e.resource.resourceType]));
    for (const r of copyOf(JSON.stringify(b.entry.map((e) => ({ fullUrl: e.fullUrl, resource: e.resource }))), types, conditional)) {
      delete r.id;
      out.push({ type: r.resourceType, body: JSON.stringify(r) });
    }
    if (out.length >= n) break;
  }
  return out.slice(0, n);
}

module.exports = { loadDataset, createBodies };

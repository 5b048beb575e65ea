#!/usr/bin/env node
// Validator benchmark: µs per resource for the validation that runs on every write, on real Synthea
// resources (the Observations, Patients and Claims of the first bundles of ../shared/fixtures/synthea/blaze),
// base R4 only and with US Core 6.1.0 loaded (resources claiming us-core-* profiles, for the profile cost).
// Prints one JSON line per scenario. Env: BUNDLES (default 10), ROUNDS (default 5).
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

const root = path.join(__dirname, '..');
const fixtures = path.join(root, '..', 'shared', 'fixtures');
const { loadDefinitions } = require(path.join(root, 'dist/src/fhir/definitions/definitions'));
const { ResourceValidator } = require(path.join(root, 'dist/src/fhir/validation/resource-validator'));

const BUNDLES = Number(process.env.BUNDLES || 10);
const ROUNDS = Number(process.env.ROUNDS || 5);

function resources() {
  const dir = path.join(fixtures, 'synthea', 'blaze');
  const files = fs.readdirSync(dir).filter((f) => !f.startsWith('0-')).sort().slice(0, BUNDLES);
  const byType = {};
  for (const f of files) {
    const bundle = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(dir, f))).toString('utf8'));
    for (const e of bundle.entry) (byType[e.resource.resourceType] ??= []).push(e.resource);
  }
  return byType;
}

function validator(profilesDir) {
  return new ResourceValidator({ data: loadDefinitions() }, { profilesDir, requiredProfiles: {} });
}

/** Best of ROUNDS: µs per resource. */
function measure(v, list) {
  for (const r of list) v.validate(r); // warm up: JIT and the lazily compiled schemas
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = process.hrtime.bigint();
    for (const r of list) v.validate(r);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000 / list.length);
  }
  return Math.round(best * 100) / 100;
}

function main() {
  if (!fs.existsSync(path.join(fixtures, 'synthea'))) {
    console.error(`no fixtures at ${fixtures}`);
    process.exit(1);
  }
  const byType = resources();
  const base = validator(path.join(os.tmpdir(), 'no-profiles-here'));
  for (const type of ['Observation', 'Patient', 'Claim', 'ExplanationOfBenefit']) {
    const list = byType[type] ?? [];
    if (list.length) console.log(JSON.stringify({ scenario: 'validate-base', type, resources: list.length, usPerResource: measure(base, list) }));
  }
  const usCore = path.join(fixtures, 'us-core', '6.1.0');
  if (fs.existsSync(usCore)) {
    const t0 = Date.now();
    const profiled = validator(usCore);
    const loadMs = Date.now() - t0;
    const profile = (type, url) => (byType[type] ?? []).map((r) => ({ ...r, meta: { profile: [url] } }));
    const scenarios = [
      ['Patient', 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'],
      ['Observation', 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-simple-observation'],
      ['Encounter', 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter'],
    ];
    for (const [type, url] of scenarios) {
      const list = profile(type, url);
      if (list.length) {
        console.log(JSON.stringify({ scenario: 'validate-us-core', type, profile: url.split('/').pop(), resources: list.length, usPerResource: measure(profiled, list), profilesLoadMs: loadMs }));
      }
    }
  }
}

main();

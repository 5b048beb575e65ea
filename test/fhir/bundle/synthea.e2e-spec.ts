import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { isInfrastructure, listBundleFiles } from '../../../scripts/ingest';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

// Synthea transaction Bundles (R4 http.html §3.1.0.11.2: urn:uuid fullUrls, conditional references,
// ifNoneExist) ingest with zero errors, and the per-type counts afterwards equal the counts in the files.
const SYNTHEA = path.join(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'synthea');
const sets = fs.existsSync(SYNTHEA) ? fs.readdirSync(SYNTHEA).filter((d) => fs.statSync(path.join(SYNTHEA, d)).isDirectory()) : [];
// every bundle on the real PostgreSQL (CI); on the slower embedded database a sample unless SYNTHEA_FULL=1
const full = process.env.SYNTHEA_FULL ? process.env.SYNTHEA_FULL === '1' : !!process.env.TEST_DATABASE_URL;
const SAMPLE = 6;

if (!sets.length) {
  // eslint-disable-next-line no-console
  console.warn(`Synthea fixtures not found at ${SYNTHEA}: skipping the Synthea ingest tests`);
}

describe.each(sets.length ? sets : ['(none)'])('Synthea set %s ingests through POST [base]', (set) => {
  let t: TestApp;
  beforeAll(async () => {
    if (sets.length) t = await startTestApp();
  });
  afterAll(async () => t?.close());

  (sets.length ? it : it.skip)(
    `${full ? 'every bundle' : `the infrastructure bundles and the first ${SAMPLE} patient bundles`}: zero errors, counts equal the files'`,
    async () => {
      const all = listBundleFiles([path.join(SYNTHEA, set)]);
      const files = full ? all : [...all.filter(isInfrastructure), ...all.filter((f) => !isInfrastructure(f)).slice(0, SAMPLE)];
      const expected = new Map<string, number>();
      let entries = 0;
      for (const file of files) {
        const text = gunzipSync(fs.readFileSync(file)).toString('utf8');
        const bundle = JSON.parse(text);
        for (const e of bundle.entry) expected.set(e.resource.resourceType, (expected.get(e.resource.resourceType) ?? 0) + 1);
        entries += bundle.entry.length;
        const res = await t.http.post('/fhir').set('Content-Type', FHIR_JSON).send(text);
        expect({ file: path.basename(file), status: res.status, issue: res.body.issue?.[0]?.diagnostics }).toEqual({
          file: path.basename(file),
          status: 200,
          issue: undefined,
        });
        const failed = res.body.entry.filter((e: any) => !/^20[01] /.test(e.response.status));
        expect(failed).toEqual([]);
        expect(res.body.entry).toHaveLength(bundle.entry.length);
      }
      const rows = await t.db.query<{ resource_type: string; n: number }>(
        'SELECT resource_type, count(*)::int AS n FROM resource WHERE NOT deleted GROUP BY 1',
      );
      const actual = new Map(rows.rows.map((r) => [r.resource_type, r.n]));
      expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expected));
      expect([...actual.values()].reduce((a, b) => a + b, 0)).toBe(entries);
      // every placeholder and conditional reference was rewritten to a literal Type/id
      const leftovers = await t.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM resource WHERE content LIKE '%"reference":"urn:%' OR content ~ '"reference":"[A-Za-z]+\\?'`,
      );
      expect(leftovers.rows[0].n).toBe(0);
      // and they point at resources that exist
      const enc = await t.db.query<{ content: string }>(`SELECT content FROM resource WHERE resource_type = 'Encounter' LIMIT 1`);
      if (enc.rows.length) {
        const e = JSON.parse(enc.rows[0].content);
        for (const ref of [e.subject?.reference, e.serviceProvider?.reference, e.participant?.[0]?.individual?.reference].filter(Boolean)) {
          expect((await t.http.get(`/fhir/${ref}`)).status).toBe(200);
        }
      }
    },
    30 * 60_000,
  );
});

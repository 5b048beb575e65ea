import * as fs from 'fs';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { bundlesByName, Created, loadTransaction, SMART_DIR } from '../export/export-oracle-helpers';
import { duplicates, IncludeOracle, Page, sortedKeys, specsOf, walkPages } from './includes-synthea-oracle';

/**
 * Oracle check of _include, _revinclude, `:iterate` and `*` (R4 search.html#include, #revinclude)
 * on real Synthea patients (../shared/fixtures/synthea/smart-generated-sample-data, the first 3
 * bundles by file name, loaded as transactions). Every expected set is computed here from the
 * fixture content, each `urn:uuid:` reference mapped to the id the server assigned, through the R4
 * SearchParameter expressions (./includes-synthea-oracle.ts). Each search is followed page by page
 * with a small `_count`, so the includes are checked per page: exactly those of the page's matches.
 */
const PATIENTS = 3;
const COUNTS = [7, 50];
const present = fs.existsSync(SMART_DIR) && fs.readdirSync(SMART_DIR).filter((f) => f.endsWith('.json.gz')).length >= PATIENTS;
if (!present) {
  // eslint-disable-next-line no-console
  console.log(`includes-synthea-oracle: skipped, ${PATIENTS} Synthea bundles not found in ${SMART_DIR}`);
}

interface Case {
  /** the part of search.html the case checks */
  section: string;
  type: string;
  /** the query without _count, for patient `pid` */
  query: (pid: string) => string;
  /** the oracle's matches */
  matches: (o: IncludeOracle, pid: string) => string[];
  /** the data must give this case something to include (else the check would not bite) */
  nonEmpty: boolean;
}

const byPatient = (type: string) => (o: IncludeOracle, pid: string) => o.referring(type, 'patient', `Patient/${pid}`).map((c) => c.key);

const CASES: Case[] = [
  {
    section: 'search.html#include (_include, two parameters)',
    type: 'Encounter',
    query: (pid) => `patient=${pid}&_include=Encounter:patient&_include=Encounter:service-provider`,
    matches: byPatient('Encounter'),
    nonEmpty: true,
  },
  {
    section: 'search.html#revinclude (two _revinclude)',
    type: 'Patient',
    query: (pid) => `_id=${pid}&_revinclude=Encounter:patient&_revinclude=Observation:patient`,
    matches: (_o, pid) => [`Patient/${pid}`],
    nonEmpty: true,
  },
  {
    section: 'search.html#include (_revinclude then _revinclude:iterate)',
    type: 'Encounter',
    query: (pid) => `patient=${pid}&_revinclude=Observation:encounter&_revinclude:iterate=DiagnosticReport:result`,
    matches: byPatient('Encounter'),
    nonEmpty: true,
  },
  {
    section: 'search.html#include (_revinclude then _include:iterate)',
    type: 'Encounter',
    query: (pid) => `patient=${pid}&_revinclude=DiagnosticReport:encounter&_include:iterate=DiagnosticReport:result`,
    matches: byPatient('Encounter'),
    nonEmpty: true,
  },
  {
    section: 'search.html#include (Claim / ExplanationOfBenefit, :iterate)',
    type: 'Encounter',
    query: (pid) => `patient=${pid}&_revinclude=Claim:encounter&_revinclude:iterate=ExplanationOfBenefit:claim&_include:iterate=Claim:provider`,
    matches: byPatient('Encounter'),
    nonEmpty: true,
  },
  {
    // the iterate leads back to Observations that are matches (on this page: left out; on another: included)
    section: 'search.html#include (a match reached again through :iterate is not an include)',
    type: 'Observation',
    query: (pid) => `patient=${pid}&_revinclude=DiagnosticReport:result&_include:iterate=DiagnosticReport:result`,
    matches: byPatient('Observation'),
    nonEmpty: true,
  },
  {
    // Synthea 2019 writes medicationCodeableConcept: nothing to include, which the oracle must find too
    section: 'search.html#include (MedicationRequest:medication)',
    type: 'MedicationRequest',
    query: (pid) => `patient=${pid}&_include=MedicationRequest:medication`,
    matches: byPatient('MedicationRequest'),
    nonEmpty: false,
  },
  {
    section: 'search.html#include (`*`: every reference parameter of the type)',
    type: 'MedicationRequest',
    query: (pid) => `patient=${pid}&_include=MedicationRequest:*`,
    matches: byPatient('MedicationRequest'),
    nonEmpty: true,
  },
  {
    section: 'search.html#include (`*` on ExplanationOfBenefit: claim, provider, care-team, contained coverage left out)',
    type: 'ExplanationOfBenefit',
    query: (pid) => `patient=${pid}&_include=ExplanationOfBenefit:*`,
    matches: byPatient('ExplanationOfBenefit'),
    nonEmpty: true,
  },
  {
    section: 'search.html#revinclude (`_revinclude=*`)',
    type: 'Patient',
    query: (pid) => `_id=${pid}&_revinclude=*`,
    matches: (_o, pid) => [`Patient/${pid}`],
    nonEmpty: true,
  },
  {
    section: 'search.html#include (target type: Encounter:participant:Practitioner)',
    type: 'Encounter',
    query: (pid) => `patient=${pid}&_include=Encounter:participant:Practitioner`,
    matches: byPatient('Encounter'),
    nonEmpty: true,
  },
  {
    // Encounter.participant.individual is a Practitioner in Synthea: the restriction leaves nothing
    section: 'search.html#include (target type excluding every reference: Encounter:participant:RelatedPerson)',
    type: 'Encounter',
    query: (pid) => `patient=${pid}&_include=Encounter:participant:RelatedPerson`,
    matches: byPatient('Encounter'),
    nonEmpty: false,
  },
  {
    // Claim.provider is an Organization in Synthea: Practitioner selects none, Organization all of them
    section: 'search.html#include (target type on a multi-target parameter: Claim:provider:Organization / :Practitioner)',
    type: 'Claim',
    query: (pid) => `patient=${pid}&_include=Claim:provider:Organization&_include=Claim:provider:Practitioner&_include=Claim:encounter`,
    matches: byPatient('Claim'),
    nonEmpty: true,
  },
];

(present ? describe : describe.skip)('_include / _revinclude oracle on Synthea (R4 search.html#include)', () => {
  let t: TestApp;
  let oracle: IncludeOracle;
  const patientIds: string[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    const created: Created[] = [];
    for (const { bundle } of bundlesByName(PATIENTS)) {
      const one = await loadTransaction(t, bundle);
      patientIds.push(one.find((c) => c.type === 'Patient')!.id);
      created.push(...one);
    }
    oracle = new IncludeOracle(created);
  });

  afterAll(async () => {
    await t?.close();
  });

  /** Every page's include entries against the oracle; returns the pages for further checks. */
  async function checkCase(c: Case, pid: string, count: number): Promise<Page[]> {
    const query = c.query(pid);
    const specs = specsOf(query);
    const expectedMatches = sortedKeys(c.matches(oracle, pid));
    const pages = await walkPages(t, `${c.type}?${query}&_count=${count}`);
    const label = `${c.type}?${query}&_count=${count}`;
    const allMatches = pages.flatMap((p) => p.matches);
    expect({ label, matches: sortedKeys(allMatches) }).toEqual({ label, matches: expectedMatches });
    expect({ label, duplicated: duplicates(allMatches) }).toEqual({ label, duplicated: [] });
    if (expectedMatches.length > count) expect(pages.length).toBeGreaterThan(1);
    const union = new Set<string>();
    pages.forEach((p, i) => {
      const page = `${label} page ${i + 1}`;
      // one entry per resource on a page; a match is never also an include
      expect({ page, duplicated: duplicates(p.all) }).toEqual({ page, duplicated: [] });
      expect({ page, both: p.includes.filter((k) => p.matches.includes(k)) }).toEqual({ page, both: [] });
      // the includes of the page are those of the page's matches, no more, no fewer
      expect({ page, includes: sortedKeys(p.includes) }).toEqual({ page, includes: sortedKeys(oracle.includes(p.matches, specs)) });
      // search.html#total: the matches only, never the includes
      if (p.bundle.total !== undefined) expect({ page, total: p.bundle.total }).toEqual({ page, total: expectedMatches.length });
      p.includes.forEach((k) => union.add(k));
    });
    const whole = oracle.includes(expectedMatches, specs);
    const matchSet = new Set(expectedMatches);
    expect({ label, union: sortedKeys([...union].filter((k) => !matchSet.has(k))) }).toEqual({ label, union: sortedKeys(whole) });
    return pages;
  }

  for (const c of CASES) {
    it(`${c.section}: ${c.type}?${c.query('X')}, every page at _count ${COUNTS.join(' and ')}`, async () => {
      let included = 0;
      for (const pid of patientIds) {
        for (const count of COUNTS) {
          const pages = await checkCase(c, pid, count);
          included += pages.reduce((n, p) => n + p.includes.length, 0);
        }
      }
      if (c.nonEmpty) expect(included).toBeGreaterThan(0);
      else expect(included).toBe(0);
    });
  }

  it('search.html#total: Bundle.total (_total=accurate) counts the matches only, not the included resources', async () => {
    for (const pid of patientIds) {
      const query = `Patient?_id=${pid}&_revinclude=Encounter:patient&_revinclude=Observation:patient&_total=accurate&_count=5`;
      const pages = await walkPages(t, query);
      const includes = pages.reduce((n, p) => n + p.includes.length, 0);
      expect(includes).toBe(oracle.includes([`Patient/${pid}`], specsOf(query)).size);
      expect(includes).toBeGreaterThan(1);
      for (const p of pages) expect(p.bundle.total).toBe(1);
      const enc = await walkPages(t, `Encounter?patient=${pid}&_include=Encounter:patient&_include=Encounter:service-provider&_total=accurate&_count=7`);
      const encounters = oracle.referring('Encounter', 'patient', `Patient/${pid}`).length;
      for (const p of enc) expect(p.bundle.total).toBe(encounters);
    }
  });

  it('search.html#selflink: the self link of every page lists the _include / _revinclude parameters applied', async () => {
    const pid = patientIds[0];
    const queries = [
      `Encounter?patient=${pid}&_include=Encounter:patient&_include=Encounter:service-provider&_count=7`,
      `Encounter?patient=${pid}&_revinclude=Observation:encounter&_revinclude:iterate=DiagnosticReport:result&_count=7`,
      `Encounter?patient=${pid}&_include=Encounter:participant:Practitioner&_count=7`,
      `Patient?_id=${pid}&_revinclude=*&_count=7`,
      `MedicationRequest?patient=${pid}&_include=MedicationRequest:*&_count=7`,
    ];
    for (const q of queries) {
      const asked = [...new URLSearchParams(q.split('?')[1])].filter(([k]) => /^_(rev)?include/.test(k));
      for (const p of await walkPages(t, q)) {
        const self = p.bundle.link?.find((l: any) => l.relation === 'self')?.url as string;
        expect(self).toBeDefined();
        const applied = new URLSearchParams(new URL(self).search);
        for (const [k, v] of asked) expect({ q, k, values: applied.getAll(k) }).toEqual({ q, k, values: expect.arrayContaining([v]) });
      }
    }
  });
});

import * as fs from 'fs';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { EXAMPLES, pool, r4ParamsByType, readExamples, searchValue, storeExamples } from './r4-examples-sweep-values';

/**
 * Every standard R4 search parameter on real data of every resource type: each FHIR R4 spec example
 * (hl7.fhir.r4.examples 4.0.1) is stored with PUT [type]/[id] (http.html#update, update as create), then
 * for each official SearchParameter of its type (search.html#ptypes: token, string, reference, date,
 * number, quantity, uri) the first searchable value of the parameter's expression, evaluated with the
 * `fhirpath` package (r4-examples-sweep-values.ts, none of the server's code), becomes a search
 * `GET [type]?[code]=[value]&_id=[id]` that must answer 200 with the example among its matches.
 */
const present = fs.existsSync(EXAMPLES);
if (!present) console.warn(`skipping the R4 examples search sweep: ${EXAMPLES} is absent`);

/**
 * Searches known to fail, `file code` → why. Each must still fail (the list cannot go stale): fix the
 * server, then remove the entry.
 */
const KNOWN: Record<string, string> = {};

interface Case {
  file: string;
  type: string;
  id: string;
  code: string;
  paramType: string;
  value: string;
}

interface Outcome {
  c: Case;
  status: number;
  found: boolean;
}

const CONCURRENCY = 8;
/** per parameter type, a value no example holds: the control that a search can miss (an ignored parameter would not) */
const NO_MATCH: Record<string, string> = {
  token: 'urn:sweep:none|none',
  string: 'Zzqxj',
  reference: 'Patient/sweep-none',
  date: '1801-02-03',
  number: '-987654321',
  quantity: '-987654321',
  uri: 'urn:sweep:none',
};
const PARAM_TYPES: [string, string][] = [
  ['token', 'search.html#token: Coding system|code, Identifier system|value, ContactPoint value, code/boolean/string as they are'],
  ['string', 'search.html#string: a case- and accent-insensitive prefix (HumanName, Address: one of their parts)'],
  ['reference', 'search.html#reference: Type/id of a relative reference; a canonical by its URL (#versions)'],
  ['date', 'search.html#date: the value at its own precision; a Period or Timing bounds with ge/le (#prefix)'],
  ['number', 'search.html#number: the value within its implicit range; a Range by ge/le (#prefix)'],
  ['quantity', 'search.html#quantity: value|system|code, value||code'],
  ['uri', 'search.html#uri: the exact value'],
];

(present ? describe : describe.skip)('R4 spec examples: every standard search parameter finds its example (search.html)', () => {
  let t: TestApp;
  const examples = present ? readExamples() : [];
  let refused: { file: string; status: number }[] = [];
  const cases: Case[] = [];
  /** (type, parameter) pairs the cases cover */
  const pairs = new Set<string>();
  /** parameters with values none of which makes a search value here (text-only CodeableConcepts, contained or display-only references…) */
  let underivable = 0;

  beforeAll(async () => {
    t = await startTestApp();
    const { stored, refused: notStored } = await storeExamples(t, examples, CONCURRENCY);
    refused = notStored;
    const paramsOf = r4ParamsByType();
    for (const { file, resource } of stored) {
      for (const p of paramsOf(resource.resourceType)) {
        const { values, search } = searchValue(p, resource);
        if (search === undefined) {
          if (values.length) underivable++;
          continue;
        }
        cases.push({ file, type: resource.resourceType, id: resource.id, code: p.code, paramType: p.type, value: search });
        pairs.add(`${resource.resourceType}.${p.code}`);
      }
    }
  }, 120_000);
  afterAll(async () => t?.close());

  const run = (c: Case): Promise<Outcome> =>
    t.http
      .get(`/fhir/${c.type}?${c.code}=${encodeURIComponent(c.value)}&_id=${encodeURIComponent(c.id)}`)
      .then((res) => ({ c, status: res.status, found: res.status === 200 && (res.body.entry ?? []).some((e: any) => e.search?.mode === 'match' && e.resource?.id === c.id) }));
  const describeFailure = (o: Outcome) => `${o.c.file} ${o.c.code}=${o.c.value}: ${o.status}${o.status === 200 ? ' without the example' : ''}`;

  it('stores every example the server accepts (http.html#update); only known-invalid ones and AuditEvents are refused', () => {
    const statuses = new Set(refused.map((r) => r.status));
    console.info(
      `R4 examples sweep: ${examples.length} examples, ${examples.length - refused.length} stored, ${refused.length} refused ` +
        `(${[...statuses].map((s) => `${s}: ${refused.filter((r) => r.status === s).length}`).join(', ')}); ` +
        `${cases.length} searches over ${pairs.size} (type, parameter) pairs; ${underivable} parameters with values but none searchable by value`,
    );
    // 422: the examples that break an R4 rule (r4-examples-roundtrip.e2e-spec.ts KNOWN_INVALID); 405: AuditEvent (the audit trail is the server's)
    expect([...statuses].sort()).toEqual([405, 422]);
    expect(refused.filter((r) => r.status === 422)).toHaveLength(9);
    expect(refused.filter((r) => r.status === 405).every((r) => r.file.startsWith('AuditEvent-'))).toBe(true);
    expect(examples.length - refused.length).toBeGreaterThan(690);
  });

  describe.each(PARAM_TYPES)('%s (%s)', (paramType) => {
    it('finds every example by the first value of each parameter; no 4xx or 5xx', async () => {
      const mine = cases.filter((c) => c.paramType === paramType);
      expect(mine.length).toBeGreaterThan(0);
      expect(await run({ ...mine[0], value: NO_MATCH[paramType] })).toMatchObject({ status: 200, found: false });
      const outcomes = await pool(mine, CONCURRENCY, run);
      const failures = outcomes.filter((o) => !o.found && !KNOWN[`${o.c.file} ${o.c.code}`]).map(describeFailure);
      expect(failures).toEqual([]);
      // the known failures still fail (else the entry is stale: remove it)
      const stale = outcomes.filter((o) => o.found && KNOWN[`${o.c.file} ${o.c.code}`]).map((o) => `${o.c.file} ${o.c.code}`);
      expect(stale).toEqual([]);
    });
  });

  it('every KNOWN entry is a search the sweep runs', () => {
    const keys = new Set(cases.map((c) => `${c.file} ${c.code}`));
    expect(Object.keys(KNOWN).filter((k) => !keys.has(k))).toEqual([]);
  });
});

import * as fs from 'fs';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { datePrefixMatches, dateRange, dates } from './r4-examples-sort-keys';
import { evaluate, EXAMPLES, pool, r4ParamsByType, storeExamplesByType } from './r4-examples-sweep-values';

/**
 * The date search prefixes (search.html#date, #prefix, R4 3.1.1.4.2) on real data of every resource type:
 * the FHIR R4 spec examples stored as in r4-examples-sweep.e2e-spec.ts, then for each official date
 * SearchParameter of a type, on up to two examples holding a value, search values at and around the
 * bounds of the example's first value, each with every prefix, `GET [type]?[code]=[prefix][value]&_id=[id]`,
 * which must find the example exactly when the R4 table says it matches. The example's values are
 * evaluated with the `fhirpath` package and read as ranges by r4-examples-sort-keys.ts (a date/dateTime
 * by its precision, a Period [start, end] with an open end unbounded, an instant, a Timing's events and
 * bounds), none of the server's code. Any status but 200 is a failure.
 *
 * Readings chosen:
 * - search.html#date, "the search parameter may have multiple values": a resource matches when any one
 *   of its values does (search.html#combining: repeating elements match if any repeat matches), `ne`
 *   included: `ne` is the negation of `eq` on one value ("the range of the search value does not fully
 *   contain the range of the target value"), not "no value equals".
 * - a dateTime without a time zone is UTC (the spec leaves it to the server: "where the time zone is not
 *   specified, the server's time zone", README); date-only values are UTC days.
 * - `ap`: "the recommended value for the approximation is 10% of the stated value (or for a date, 10% of
 *   the gap between now and the date)": the server's rule (README, range-sql.ts) is the search value's
 *   range widened by 10% of the distance from its start to now, at least a day, matching a target range
 *   that overlaps it. Cases within a minute of that edge are not asserted (the two clocks differ).
 */
const present = fs.existsSync(EXAMPLES);
if (!present) console.warn(`skipping the R4 examples date prefix searches: ${EXAMPLES} is absent`);

/** `Type?query` → why: each must still fail (fix the server, then remove the entry). */
const KNOWN: Record<string, string> = {};

const CONCURRENCY = 8;
const PER_PARAM = 2;
const DAY = 24 * 3600_000;
type Range = [number, number];
const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;

const iso = (ms: number) => new Date(ms).toISOString();
const day = (ms: number) => iso(ms).slice(0, 10);
/** A minute-precision dateTime with a time zone (+05:30) that holds `ms`. */
const minuteIn = (ms: number) => `${iso(ms + 330 * 60_000).slice(0, 16)}+05:30`;

/**
 * The search values around a range: the day it starts (or ends), the day before its start, the day after
 * its end, the year it starts in, a minute with a time zone inside it (its middle when it is bounded), and
 * days 1000 days before and after it (outside `ap`'s window for values of the last 27 years).
 */
function searchValues([lo, hi]: Range): string[] {
  const at = Number.isFinite(lo) ? lo : hi;
  const inside = Number.isFinite(lo) && Number.isFinite(hi) ? lo + Math.floor((hi - lo) / 2) : at;
  const out = [day(at), iso(at).slice(0, 4), minuteIn(inside)];
  if (Number.isFinite(lo)) out.push(day(lo - DAY), day(lo - 1000 * DAY));
  if (Number.isFinite(hi)) out.push(day(hi + DAY), day(hi), day(hi + 1000 * DAY));
  return [...new Set(out)].filter((v) => /^\d{4}/.test(v) && !v.startsWith('0000'));
}

interface Check {
  type: string;
  id: string;
  query: string;
  expected: boolean;
}

(present ? describe : describe.skip)('R4 spec examples: date search prefixes (search.html#date, #prefix)', () => {
  let t: TestApp;
  let byType = new Map<string, Record<string, any>[]>();

  beforeAll(async () => {
    t = await startTestApp();
    byType = await storeExamplesByType(t, present, CONCURRENCY);
  }, 120_000);
  afterAll(async () => t?.close());

  const checks: Check[] = [];
  const label = (c: Check) => `${c.type}?${c.query}`;

  it('every prefix finds an example exactly when the R4 table says it matches', async () => {
    const paramsOf = r4ParamsByType(new Set(['date']));
    const now = Date.now();
    let unbounded = 0;
    for (const [type, rs] of byType) {
      for (const p of paramsOf(type)) {
        const holding = rs.map((r) => ({ r, ranges: evaluate(p.expression, r).flatMap(dates) })).filter((x) => x.ranges.length);
        const sample = holding.length > PER_PARAM ? [holding[0], holding[holding.length - 1]] : holding;
        for (const { r, ranges } of sample) {
          if (!ranges[0].every(Number.isFinite)) unbounded++;
          for (const value of searchValues(ranges[0])) {
            const target = dateRange(value)!;
            for (const prefix of PREFIXES) {
              const each = ranges.map((range) => datePrefixMatches(prefix, range, target, now));
              const expected = each.some((m) => m === true) ? true : each.some((m) => m === undefined) ? undefined : false;
              if (expected === undefined) continue;
              checks.push({ type, id: r.id, query: `${p.code}=${encodeURIComponent(prefix + value)}&_id=${encodeURIComponent(r.id)}`, expected });
            }
          }
        }
      }
    }
    expect(checks.length).toBeGreaterThan(1000);
    expect(unbounded).toBeGreaterThan(0); // a Period with an open end is among them
    // not vacuous: every prefix both finds and misses an example
    for (const prefix of PREFIXES) {
      const of = checks.filter((c) => c.query.includes(`=${prefix}`));
      expect([prefix, of.some((c) => c.expected), of.some((c) => !c.expected)]).toEqual([prefix, true, true]);
    }
    const outcomes = await pool(checks, CONCURRENCY, async (c) => {
      const res = await t.http.get(`/fhir/${c.type}?${c.query}&_elements=id`);
      const found = res.status === 200 && (res.body.entry ?? []).some((e: any) => e.resource?.id === c.id);
      return { c, status: res.status, ok: res.status === 200 && found === c.expected };
    });
    const failures = outcomes.filter((o) => !o.ok && !KNOWN[label(o.c)]);
    console.info(`R4 examples date prefix searches: ${checks.length} (${unbounded} open Periods), ${failures.length} failing`);
    expect(failures.map((o) => `${label(o.c)}: ${o.status === 200 ? `expected ${o.c.expected ? 'a match' : 'none'}` : o.status}`)).toEqual([]);
    expect(outcomes.filter((o) => o.ok && KNOWN[label(o.c)]).map((o) => `stale KNOWN: ${label(o.c)}`)).toEqual([]);
  }, 120_000);

  it('every KNOWN entry is a search the file runs', () => {
    const run = new Set(checks.map(label));
    expect(Object.keys(KNOWN).filter((k) => !run.has(k))).toEqual([]);
  });
});

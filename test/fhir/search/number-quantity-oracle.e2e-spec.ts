import * as fs from 'fs';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { everyPage, keyDiff, storeCompartmentUniverse } from './compartments';
import { cmp, convert, Dec, dec, Entry, entries, nearBound, plain, Prefix, prefixMatches, PREFIXES, toDec, UCUM } from './number-quantity-oracle';
import { evaluate, EXAMPLES, pool, r4ParamsByType } from './r4-examples-sweep-values';
import { create, ids } from './search-helpers';
import { syntheaPresent } from './synthea-fixtures';

/**
 * Number and quantity search with every prefix (search.html#number, #quantity, #prefix), an oracle on
 * real data: the R4 spec examples and three Synthea patients (storeCompartmentUniverse). For every R4
 * number and quantity SearchParameter (composites have a test of their own) with values in the data,
 * search values are built from stored values (the value itself, more and fewer significant figures,
 * exponent forms, the next value at its last digit and one digit further, for a value ending in 5 the
 * exponent forms whose implicit range ends or starts exactly at it, and the values whose `ap` window ends
 * or starts exactly at it), each with no prefix and with every prefix; quantities also as `value|system|code`, `value||code`, `value||unit` and, for UCUM units, in
 * another unit of the same dimension. The expected matches are computed here from the stored resources
 * (FHIRPath with the R4 model, number-quantity-oracle.ts for the arithmetic) and compared with every page
 * of `GET [type]?[code]=[value]&_count=50`.
 *
 * Readings (the server's documented decisions, README "Numbers and quantities" and "Quantities in UCUM"):
 * - a stored value is the exact decimal written (no implicit range: `100` stored is the point 100); a Range
 *   is [low, high], an open end unbounded;
 * - a resource matches when one of its values does (search.html#combining), `ne` included: `ne` is "not
 *   eq" on one value (as r4-examples-date-prefixes.e2e-spec.ts reads it);
 * - `value` alone ignores units; `value||u` matches a code or a stated unit (`unit`, or a Money's currency)
 *   `u`; `value|system|code` the system and code, a value in that unit compared as written; with the UCUM
 *   system also any UCUM value in another unit ucum-lhc converts to it (moles and equivalents are no
 *   counts), converted (a conversion ending within 1e-9 of a bound of the search is not asserted: binary
 *   arithmetic). A SampledData is no value.
 */
const present = fs.existsSync(EXAMPLES) && syntheaPresent();
if (!present) console.warn(`skipping the number and quantity oracle: ${EXAMPLES} or the Synthea fixtures are absent`);

const CONCURRENCY = 8;
/** stored values per parameter searched around (evenly over the sorted distinct values) */
const ANCHORS = 5;
/** UCUM units tried for a converted search value (the first commensurable one other than the stored unit) */
const OTHER_UNITS = ['g', 'mg', 'kg', 'ug', 'm', 'cm', 'mm', 's', 'min', 'h', 'd', 'wk', 'mo', 'a', 'L', 'mL', 'mmol/L', 'mg/dL', 'g/L', 'K', 'Cel', '[degF]', 'mm[Hg]', 'kPa', '%', '/min', 'kg/m2'];

const risk = (id: string, probability: object) => ({ resourceType: 'RiskAssessment', id, status: 'final', subject: { reference: 'Patient/nq' }, prediction: [probability] });
const observation = (id: string, valueQuantity: object) => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'nq' }, valueQuantity });
const years = (value: number) => ({ value, system: UCUM, code: 'a', unit: 'years' });
/** Resources of the test's own, beside the fixtures */
const EXTRA: Record<string, any>[] = [
  risk('nq-range', { probabilityRange: { low: { value: 0.2 }, high: { value: 0.35 } } }),
  risk('nq-above', { probabilityRange: { low: { value: 12.5 } } }),
  risk('nq-below', { probabilityRange: { high: { value: 0.05 } } }),
  risk('nq-zero', { probabilityDecimal: 0 }),
  { resourceType: 'Condition', id: 'nq-onset', subject: { reference: 'Patient/nq' }, onsetRange: { low: years(20), high: years(30.5) } },
  { resourceType: 'Condition', id: 'nq-onset-open', subject: { reference: 'Patient/nq' }, onsetRange: { low: years(65) } },
  observation('nq-cold', { value: -3.25, system: UCUM, code: 'Cel', unit: '°C' }),
  observation('nq-unit', { value: 7.5, unit: 'widgets' }),
];

type UnitForm = { kind: 'none' } | { kind: 'unit'; unit: string } | { kind: 'system'; system: string; code: string };

interface Query {
  type: string;
  code: string;
  text: string;
  prefix: Prefix;
  form: UnitForm;
  /** a converted (UCUM) search value */
  converted?: boolean;
}

const normalize = ({ m, e }: Dec): Dec => {
  while (m !== 0n && m % 10n === 0n) [m, e] = [m / 10n, e + 1];
  return { m, e };
};

/**
 * Search values around a stored decimal (search.html#number): itself, one more significant figure
 * (`5.40`), one and two significant figures in exponent form (`5e+0`, `5.4e+0`), the next value above and
 * below at its last digit (`5.5`, `5.3`), one digit further (`5.43`, `5.37`), for a value ending in 5
 * (`5.45`) the exponent forms `54e-1` [5.35, 5.45) and `55e-1` [5.45, 5.55) it bounds, and for a stored
 * 9.9 `9.0` and `11.0`, whose `ap` windows [8.1, 9.9] and [9.9, 12.1] end and start at it.
 */
function searchTexts(v: Dec): string[] {
  const n = normalize(v);
  const p = plain(n);
  const x = Number(p);
  const out = [p, p.includes('.') ? `${p}0` : `${p}.0`, plain({ m: n.m + 1n, e: n.e }), plain({ m: n.m - 1n, e: n.e }), plain({ m: n.m * 10n + 3n, e: n.e - 1 }), plain({ m: n.m * 10n - 3n, e: n.e - 1 })];
  if (x !== 0) out.push(x.toExponential(0), x.toExponential(1));
  if (n.m % 10n === 5n || n.m % 10n === -5n) out.push(`${(n.m - 5n) / 10n}e${n.e + 1}`, `${(n.m + 5n) / 10n}e${n.e + 1}`);
  // `ap` windows (±10%) ending or starting exactly at the value: 10·v/11 (its window ends at v), 10·v/9 (starts at v)
  if (n.m % 11n === 0n) out.push(plain({ m: (n.m * 10n) / 11n, e: n.e }));
  if (n.m % 9n === 0n) out.push(plain({ m: (n.m * 10n) / 9n, e: n.e }));
  return [...new Set(out)];
}

function formText(q: Query): string {
  const value = `${q.prefix}${q.text}`;
  if (q.form.kind === 'none') return value;
  if (q.form.kind === 'unit') return `${value}||${q.form.unit}`;
  return `${value}|${q.form.system}|${q.form.code}`;
}

const escape = (s: string) => s.replace(/[\\,$|]/g, (m) => `\\${m}`);

function url(q: Query): string {
  const f = q.form;
  const value = f.kind === 'none' ? `${q.prefix}${q.text}` : f.kind === 'unit' ? `${q.prefix}${q.text}||${escape(f.unit)}` : `${q.prefix}${q.text}|${escape(f.system)}|${escape(f.code)}`;
  return `${q.type}?${q.code}=${encodeURIComponent(value)}&_count=50&_elements=id`;
}

/**
 * Whether a stored value matches (undefined: too close to call after a conversion). search.html#quantity:
 * `value||unit` "the unit - either the code (code) or the stated human unit (unit)"; `value|system|code`
 * the system and code; in UCUM the server also compares the value in any unit of the dimension
 * (README "Quantities in UCUM", 5.4 mg finds 0.0054 g).
 */
function entryMatches(q: Query, e: Entry): boolean | undefined {
  const f = q.form;
  if (f.kind === 'none') return prefixMatches(q.prefix, e, q.text);
  if (f.kind === 'unit') return (e.code === f.unit || e.unit === f.unit) && prefixMatches(q.prefix, e, q.text);
  if (e.system === f.system && e.code === f.code && prefixMatches(q.prefix, e, q.text)) return true;
  if (f.system !== UCUM || e.system !== UCUM || !e.code || e.code === f.code) return false;
  const lowN = e.lowN === null ? null : convert(e.lowN, e.code, f.code);
  const highN = e.highN === null ? null : convert(e.highN, e.code, f.code);
  if (lowN === undefined || highN === undefined) return false;
  if (nearBound(lowN, q.text) || nearBound(highN, q.text)) return undefined;
  return prefixMatches(q.prefix, { low: lowN === null ? null : toDec(lowN), high: highN === null ? null : toDec(highN) }, q.text);
}

(present ? describe : describe.skip)('number and quantity search, every prefix, on the R4 examples and Synthea (search.html#number, #quantity, #prefix)', () => {
  let t: TestApp;
  let universe = new Map<string, any>();

  beforeAll(async () => {
    t = await startTestApp();
    universe = (await storeCompartmentUniverse(t)).universe;
    // what the data has few or none of: Ranges (open ends too), negative values, zero, a unit only
    for (const r of EXTRA) {
      const res = await t.http.put(`/fhir/${r.resourceType}/${r.id}`).set('Content-Type', FHIR_JSON).send(r);
      if (res.status !== 201 && res.status !== 200) throw new Error(`${r.resourceType}/${r.id}: ${res.status}`);
      universe.set(`${r.resourceType}/${r.id}`, r);
    }
  }, 180_000);
  afterAll(async () => t?.close());

  it('every page of every search holds exactly the resources the prefix table selects', async () => {
    const started = Date.now();
    const byType = new Map<string, any[]>();
    for (const r of universe.values()) byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), r]);
    const paramsOf = r4ParamsByType(new Set(['number', 'quantity']));
    const stored = new Map<string, { key: string; entries: Entry[] }[]>(); // `type.code` → values per resource
    const queries: Query[] = [];
    const params: string[] = [];
    let ranges = 0;
    for (const [type, rs] of [...byType].sort(([a], [b]) => a.localeCompare(b))) {
      for (const p of paramsOf(type)) {
        if (p.components) continue;
        const values = rs.map((r) => ({ key: `${type}/${r.id}`, entries: entries(evaluate(p.expression, r)) })).filter((x) => x.entries.length);
        if (!values.length) continue;
        stored.set(`${type}.${p.code}`, values);
        params.push(`${type}.${p.code}`);
        // anchors: the distinct stored ends (with their entry), sorted; an even sample of them, of the Ranges' ends, and a value ending in 5
        const ends = new Map<string, { d: Dec; e: Entry }>();
        for (const { entries: es } of values) {
          for (const e of es) {
            if (e.low === null || e.high === null || cmp(e.low, e.high) !== 0) ranges++;
            for (const d of [e.low, e.high]) if (d) ends.set(`${plain(normalize(d))}|${e.system}|${e.code}|${e.unit}`, { d, e });
          }
        }
        const sorted = [...ends.values()].sort((a, b) => cmp(a.d, b.d));
        const picks = new Set(Array.from({ length: Math.min(ANCHORS, sorted.length) }, (_, i) => sorted[Math.round((i * (sorted.length - 1)) / Math.max(ANCHORS - 1, 1))]));
        const five = sorted.find((x) => normalize(x.d).m % 10n === 5n);
        if (five) picks.add(five);
        const isRange = (x: { e: Entry }) => x.e.low === null || x.e.high === null || cmp(x.e.low, x.e.high) !== 0;
        const rangeEnds = sorted.filter(isRange);
        for (const x of rangeEnds.filter((_, i) => i % Math.ceil(rangeEnds.length / 4) === 0)) picks.add(x);
        for (const { d, e } of picks) {
          const texts = searchTexts(d);
          const add = (text: string, form: UnitForm, converted = false) => {
            for (const prefix of PREFIXES) queries.push({ type, code: p.code, text, prefix, form, converted });
          };
          for (const text of texts) add(text, { kind: 'none' });
          if (p.type !== 'quantity') continue;
          // search.html#quantity: the unit forms, on the value itself, the coarse value and the next one up
          const some = [texts[0], texts[2], ...texts.filter((x) => /e/.test(x)).slice(0, 1)];
          for (const text of some) {
            if (e.system && e.code) add(text, { kind: 'system', system: e.system, code: e.code });
            if (e.code) add(text, { kind: 'unit', unit: e.code });
            if (e.unit && e.unit !== e.code) add(text, { kind: 'unit', unit: e.unit });
          }
          // a UCUM value searched in another unit of its dimension (5.4 mg as 0.0054 g)
          if (e.system === UCUM && e.code) {
            const other = OTHER_UNITS.find((u) => u !== e.code && convert(1, e.code!, u) !== undefined);
            const x = other ? convert(Number(plain(d)), e.code, other) : undefined;
            if (other && x !== undefined && x !== 0) {
              for (const text of new Set([Number(x.toPrecision(3)).toString(), x.toExponential(1), Number(x.toPrecision(12)).toString()])) {
                add(text, { kind: 'system', system: UCUM, code: other }, true);
              }
            }
          }
        }
      }
    }

    // the expectations, from the stored resources
    const checks: { q: Query; expected: string[]; partial: boolean }[] = [];
    let undecided = 0;
    for (const q of queries) {
      const values = stored.get(`${q.type}.${q.code}`)!;
      const expected: string[] = [];
      let unsure = false;
      for (const { key, entries: es } of values) {
        const each = es.map((e) => entryMatches(q, e));
        if (each.includes(true)) expected.push(key);
        else if (each.includes(undefined)) unsure = true;
      }
      if (unsure) {
        undecided++;
        continue;
      }
      const all = byType.get(q.type)!.length;
      checks.push({ q, expected: expected.sort(), partial: expected.length > 0 && expected.length < all });
    }

    const outcomes = await pool(checks, CONCURRENCY, async (c) => {
      try {
        const actual = (await everyPage(t, url(c.q))).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort();
        return { c, diff: keyDiff(c.expected, actual), error: undefined };
      } catch (err) {
        return { c, diff: undefined, error: String(err).slice(0, 300) };
      }
    });
    const disagreements = outcomes
      .filter((o) => o.error || o.diff!.missing.length || o.diff!.extra.length)
      .map((o) => `${o.c.q.type}?${o.c.q.code}=${formText(o.c.q)}: ${o.error ?? `missing ${o.diff!.missing.slice(0, 3).join(' ')}${o.diff!.missing.length > 3 ? ` (+${o.diff!.missing.length - 3})` : ''} extra ${o.diff!.extra.slice(0, 3).join(' ')}${o.diff!.extra.length > 3 ? ` (+${o.diff!.extra.length - 3})` : ''}`}`);

    const nonEmpty = checks.filter((c) => c.expected.length).length;
    const partial = checks.filter((c) => c.partial).length;
    console.info(
      `number/quantity oracle: ${params.length} parameters (${params.join(', ')}), ${checks.length} searches (${undecided} not asserted), ${nonEmpty} expecting matches, ${partial} partial, ${ranges} Range values, ${checks.filter((c) => c.q.converted).length} converted; ${disagreements.length} disagreements; ${Math.round((Date.now() - started) / 1000)} s`,
    );
    expect(disagreements).toEqual([]);

    // not vacuous: number and quantity parameters, Ranges, and every prefix (and unit form) both finds and misses
    expect(params.length).toBeGreaterThanOrEqual(10);
    expect(ranges).toBeGreaterThan(5);
    expect(nonEmpty).toBeGreaterThan(checks.length / 4);
    expect(partial).toBeGreaterThan(checks.length / 4);
    for (const prefix of PREFIXES) {
      const of = checks.filter((c) => c.q.prefix === prefix);
      expect([prefix, of.some((c) => c.partial), of.some((c) => !c.expected.length)]).toEqual([prefix, true, true]);
    }
    for (const kind of ['none', 'unit', 'system']) {
      const of = checks.filter((c) => c.q.form.kind === kind);
      expect([kind, of.some((c) => c.partial)]).toEqual([kind, true]);
    }
    expect(checks.filter((c) => c.q.converted && c.partial).length).toBeGreaterThan(5);
  }, 240_000);
});

/**
 * What the oracle found, on resources of its own (runs without the fixtures): each was a wrong answer before.
 * - search.html#number: gt/lt/ge/le compare with the value exactly, not with its nearest double;
 * - UCUM (README "Quantities in UCUM"): moles and equivalents are dimensions of their own, as ucum-lhc
 *   converts them (mmol/L is not commensurable with 10*3/uL: Synthea's and R4's glucose in mmol/L was found
 *   by a leukocyte count search `gt9|…|10*3/uL`);
 * - a value in the unit searched is compared as written, not in canonical units to 15 significant figures
 *   (Synthea's 35.252127562876533 g/dL was `ne35.25212756287653|…|g/dL`).
 */
describe('number and quantity search: what the oracle found (search.html#number, #quantity)', () => {
  let t: TestApp;
  const r: Record<string, string> = {};
  const obs = (value: number, code: string) =>
    create(t, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value, system: UCUM, code, unit: code } });
  beforeAll(async () => {
    t = await startTestApp();
    r.risk = await create(t, { resourceType: 'RiskAssessment', status: 'final', subject: { reference: 'Patient/p' }, prediction: [{ probabilityDecimal: 99.94584485554826 }] });
    r.glucose = await obs(6.3, 'mmol/L');
    r.sodium = await obs(140, 'meq/L');
    r.wbc = await obs(9.9, '10*3/uL');
    r.hb = await obs(35.252127562876533, 'g/dL');
  });
  afterAll(async () => t?.close());

  it('gt/lt/ge/le compare with the value given exactly (17 significant figures)', async () => {
    expect(await ids(t, 'RiskAssessment?probability=lt99.945844855548263')).toEqual([r.risk]);
    expect(await ids(t, 'RiskAssessment?probability=le99.945844855548257')).toEqual([]);
    expect(await ids(t, 'RiskAssessment?probability=gt99.945844855548257')).toEqual([r.risk]);
    expect(await ids(t, 'RiskAssessment?probability=ge99.945844855548263')).toEqual([]);
  });

  it('moles and equivalents are no counts (UCUM as ucum-lhc converts)', async () => {
    expect(await ids(t, `Observation?value-quantity=gt9|${UCUM}|10*3/uL`)).toEqual([r.wbc]);
    expect(await ids(t, `Observation?value-quantity=6300|${UCUM}|umol/L`)).toEqual([r.glucose]);
    expect(await ids(t, `Observation?value-quantity=0.14|${UCUM}|eq/L`)).toEqual([r.sodium]);
    expect(await ids(t, `Observation?value-quantity=140|${UCUM}|mmol/L`)).toEqual([]);
  });

  it('a value in the unit searched is compared as written; in another unit, in canonical units', async () => {
    expect(await ids(t, `Observation?value-quantity=35.25212756287653|${UCUM}|g/dL`)).toEqual([r.hb]);
    expect(await ids(t, `Observation?value-quantity=ne35.25212756287653|${UCUM}|g/dL`)).toEqual([]);
    expect(await ids(t, `Observation?value-quantity=sa35.25212756287653|${UCUM}|g/dL`)).toEqual([]);
    expect(await ids(t, `Observation?value-quantity=352.52|${UCUM}|g/L`)).toEqual([r.hb]);
    expect(await ids(t, `Observation?value-quantity=ne352.52|${UCUM}|g/L`)).toEqual([]);
  });
});

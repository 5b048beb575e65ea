import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

// search.html#number: a number's precision is that of its significant figures, `100` is [99.5, 100.5),
// `100.00` [99.995, 100.005). For `1e2` R4's table reads "1 significant figure… the range [95 ... 105)",
// an arithmetic slip corrected in R5 to [50 ... 150) (HAPI and Firely implement [50, 150)): one
// significant figure of 100 is ±50, and `1.0e2` (two) is [95, 105).
// search.html#prefix: `sa` — the target's range starts after the search value's range (no overlap, the
// range above the value contains it); `eb` — it ends before the value's range. With the value's implicit
// range [low, high): sa is target.low >= high, eb is target.high < low (so `sa100` excludes 100.2).
describe('number and quantity precision and the sa/eb prefixes (search.html#number, #quantity, #prefix)', () => {
  let t: TestApp;
  const n: Record<string, string> = {};
  const q: Record<string, string> = {};
  const risk = (p: Record<string, unknown>) =>
    create(t, { resourceType: 'RiskAssessment', status: 'final', subject: { reference: 'Patient/p' }, prediction: [p] });
  const obs = (value: number, code = 'mg') =>
    create(t, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value, system: 'http://unitsofmeasure.org', code, unit: code } });
  beforeAll(async () => {
    t = await startTestApp();
    for (const v of [60, 96, 99.8, 100, 100.2, 104, 149, 151, 200]) n[String(v)] = await risk({ probabilityDecimal: v });
    n.range = await risk({ probabilityRange: { low: { value: 90 }, high: { value: 110 } } });
    n.above = await risk({ probabilityRange: { low: { value: 300 } } });
    for (const v of [60, 96, 99.8, 100, 100.2, 104, 151]) q[String(v)] = await obs(v);
    q.gram = await obs(0.1004, 'g'); // 100.4 mg
  });
  afterAll(async () => t.close());

  const of = (m: Record<string, string>, keys: (string | number)[]) => sorted(keys.map((k) => m[String(k)]));

  it('exponential notation: precision from the significant figures', async () => {
    expect(await ids(t, 'RiskAssessment?probability=100')).toEqual(of(n, [99.8, 100, 100.2])); // [99.5, 100.5)
    expect(await ids(t, 'RiskAssessment?probability=100.0')).toEqual(of(n, [100]));
    expect(await ids(t, 'RiskAssessment?probability=1e2')).toEqual(of(n, [60, 96, 99.8, 100, 100.2, 104, 149, 'range'])); // [90, 110] within
    expect(await ids(t, 'RiskAssessment?probability=1.0e2')).toEqual(of(n, [96, 99.8, 100, 100.2, 104]));
    expect(await ids(t, 'RiskAssessment?probability=1.00e2')).toEqual(of(n, [99.8, 100, 100.2]));
    expect(await ids(t, 'RiskAssessment?probability=10E1')).toEqual(of(n, [96, 99.8, 100, 100.2, 104]));
  });

  it('sa / eb on numbers: wholly after / before the value’s implicit range', async () => {
    expect(await ids(t, 'RiskAssessment?probability=sa100')).toEqual(of(n, [104, 149, 151, 200, 'above']));
    expect(await ids(t, 'RiskAssessment?probability=eb100')).toEqual(of(n, [60, 96]));
    expect(await ids(t, 'RiskAssessment?probability=sa1e2')).toEqual(of(n, [151, 200, 'above']));
    expect(await ids(t, 'RiskAssessment?probability=eb1e2')).toEqual([]);
    expect(await ids(t, 'RiskAssessment?probability=sa100.0')).toEqual(of(n, [100.2, 104, 149, 151, 200, 'above'])); // after [99.95, 100.05)
  });

  it('sa / eb on quantities, as written and in UCUM base units', async () => {
    expect(await ids(t, 'Observation?value-quantity=sa100||mg')).toEqual(of(q, [104, 151]));
    expect(await ids(t, 'Observation?value-quantity=eb100||mg')).toEqual(of(q, [60, 96]));
    expect(await ids(t, 'Observation?value-quantity=sa100|http://unitsofmeasure.org|mg')).toEqual(of(q, [104, 151]));
    expect(await ids(t, 'Observation?value-quantity=sa0.10|http://unitsofmeasure.org|g')).toEqual(of(q, [151])); // after [95, 105) mg
    expect(await ids(t, 'Observation?value-quantity=eb0.10|http://unitsofmeasure.org|g')).toEqual(of(q, [60]));
    expect(await ids(t, 'Observation?value-quantity=1e2||mg')).toEqual(of(q, [60, 96, 99.8, 100, 100.2, 104]));
  });
});

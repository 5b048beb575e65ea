import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

const UCUM = 'http://unitsofmeasure.org';

// R4 search.html#quantity: `[prefix]number|system|code`; with the UCUM system the server compares in
// canonical units, so `5.4|http://unitsofmeasure.org|mg` matches a stored 5400 ug. Without a system
// (`5.4||mg`) or with another system the unit is compared as written.
describe('quantity search in UCUM canonical units (search.html#quantity)', () => {
  let t: TestApp;
  const o: Record<string, string> = {};
  const obs = (code: string, valueQuantity: object, extra: object = {}) => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, valueQuantity, ...extra });
  const q = (value: number, unit: string) => ({ value, system: UCUM, code: unit, unit });

  beforeAll(async () => {
    t = await startTestApp();
    o.ug = await create(t, obs('mass', q(5400, 'ug')));
    o.mg = await create(t, obs('mass', q(5.4, 'mg')));
    o.g = await create(t, obs('mass', q(0.0054, 'g')));
    o.big = await create(t, obs('mass', q(5.4, 'g')));
    o.unitOnly = await create(t, obs('mass', { value: 5.4, unit: 'mg' }));
    o.mgdl = await create(t, obs('glucose', q(100, 'mg/dL')));
    o.gl = await create(t, obs('glucose', q(1, 'g/L')));
    o.mmol = await create(t, obs('glucose', q(5.5, 'mmol/L')));
    o.cel = await create(t, obs('temp', q(37, 'Cel')));
    o.degf = await create(t, obs('temp', q(98.6, '[degF]')));
    o.fever = await create(t, obs('temp', q(41, 'Cel')));
    o.score = await create(t, obs('score', q(3, '{score}')));
  });
  afterAll(async () => t.close());

  it('matches the same amount in any unit of the dimension (mass)', async () => {
    expect(await ids(t, `Observation?value-quantity=5.4|${UCUM}|mg`)).toEqual(sorted([o.ug, o.mg, o.g]));
    expect(await ids(t, `Observation?value-quantity=5400|${UCUM}|ug`)).toEqual(sorted([o.ug, o.mg, o.g]));
    expect(await ids(t, `Observation?value-quantity=lt1|${UCUM}|g&code=mass`)).toEqual(sorted([o.ug, o.mg, o.g]));
    expect(await ids(t, `Observation?value-quantity=ge5|${UCUM}|g`)).toEqual([o.big]);
    // bounds on the one value (merged into one range)
    expect(await ids(t, `Observation?value-quantity=gt5|${UCUM}|mg&value-quantity=lt6000|${UCUM}|ug`)).toEqual(sorted([o.ug, o.mg, o.g]));
  });

  it('keeps the precision of the value given: 5.4 mg is [5.35, 5.45) mg in any unit', async () => {
    const edge = await create(t, obs('mass', q(5350, 'ug')));
    const out = await create(t, obs('mass', q(5450, 'ug')));
    const found = await ids(t, `Observation?value-quantity=5.4|${UCUM}|mg`);
    expect(found).toContain(edge);
    expect(found).not.toContain(out);
  });

  it('concentrations and offset units (Cel, [degF])', async () => {
    expect(await ids(t, `Observation?value-quantity=1|${UCUM}|g/L`)).toEqual(sorted([o.mgdl, o.gl]));
    expect(await ids(t, `Observation?value-quantity=100|${UCUM}|mg/dL`)).toEqual(sorted([o.mgdl, o.gl]));
    expect(await ids(t, `Observation?value-quantity=5.5|${UCUM}|mmol/L`)).toEqual([o.mmol]);
    expect(await ids(t, `Observation?value-quantity=37|${UCUM}|Cel`)).toEqual(sorted([o.cel, o.degf]));
    expect(await ids(t, `Observation?value-quantity=gt100|${UCUM}|[degF]`)).toEqual([o.fever]);
    expect(await ids(t, `Observation?value-quantity=ap37|${UCUM}|Cel`)).toEqual(sorted([o.cel, o.degf])); // ±3.7 Cel, not ±10% of 310 K
  });

  it('without the UCUM system, units are compared as written', async () => {
    expect(await ids(t, 'Observation?value-quantity=5.4||mg')).toEqual(sorted([o.mg, o.unitOnly]));
    expect(await ids(t, 'Observation?value-quantity=5.4&code=mass')).toEqual(sorted([o.mg, o.big, o.unitOnly]));
    expect(await ids(t, `Observation?value-quantity=3|${UCUM}|{score}`)).toEqual([o.score]);
    expect(await ids(t, `Observation?value-quantity=3|${UCUM}|1`)).toEqual([]); // annotations are not read as 1
  });

  // search.html#quantity: `5.4||mg` is "where the unit - either the code (code) or the stated human unit (unit)" is mg
  it('value||unit matches the stated unit as well as the code, in no system (R4 example Observation-example: 185 [lb_av], unit lbs)', async () => {
    const lbs = await create(t, obs('weight', { value: 185, system: UCUM, code: '[lb_av]', unit: 'lbs' }));
    expect(await ids(t, 'Observation?value-quantity=185||lbs')).toEqual([lbs]);
    expect(await ids(t, 'Observation?value-quantity=185||[lb_av]')).toEqual([lbs]);
    expect(await ids(t, `Observation?value-quantity=185|${UCUM}|lbs`)).toEqual([]); // the unit is no UCUM code
    expect(await ids(t, 'Observation?value-quantity=185&code=weight')).toEqual([lbs]);
  });

  it('composite components and Age values are canonical too', async () => {
    const bp = await create(t, {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
      component: [{ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: q(120, 'mm[Hg]') }],
    });
    expect(await ids(t, `Observation?component-code-value-quantity=8480-6$gt15|${UCUM}|kPa`)).toEqual([bp]); // 120 mm[Hg] = 16 kPa
    expect(await ids(t, `Observation?component-code-value-quantity=8480-6$lt15|${UCUM}|kPa`)).toEqual([]);
    const onset = await create(t, { resourceType: 'Condition', subject: { reference: 'Patient/ucum' }, onsetAge: { value: 24, system: UCUM, code: 'mo', unit: 'months' } });
    expect(await ids(t, `Condition?onset-age=2|${UCUM}|a`)).toEqual([onset]);
  });
});

import { UcumLhcUtils } from '@lhncbc/ucum-lhc';
import { canonicalEntry, canonicalSearchValue, canonicalUnit, UCUM } from './ucum';
import { parseQuantity } from './value-parsers';

// search.html#quantity: UCUM units compared in canonical (base) units
describe('UCUM canonical units', () => {
  it('converts mass, volume, length, time, pressure and concentrations to base units', () => {
    expect(canonicalUnit('mg')!.unit).toBe('g');
    expect(canonicalUnit('ug')!.convert(5400)).toBe(0.0054);
    expect(canonicalUnit('mg')!.convert(5.4)).toBe(0.0054);
    expect(canonicalUnit('mL')!.convert(500)).toBe(0.0005);
    expect(canonicalUnit('mL')!.unit).toBe('m3');
    expect(canonicalUnit('[in_i]')!.convert(1)).toBe(0.0254);
    expect(canonicalUnit('h')!.convert(2)).toBe(7200);
    expect(canonicalUnit('mg/dL')!.unit).toBe('g.m-3');
    expect(canonicalUnit('mg/dL')!.convert(100)).toBe(canonicalUnit('g/L')!.convert(1));
    expect(canonicalUnit('mm[Hg]')!.unit).toBe('g.m-1.s-2');
    expect(canonicalUnit('%')!.unit).toBe('1');
    // moles and equivalents are dimensions of their own (as ucum-lhc converts): mmol/L is no cell count per uL
    expect(canonicalUnit('mmol/L')!.unit).toBe('m-3.mol');
    expect(canonicalUnit('mmol/L')!.convert(6.3)).toBe(6.3);
    expect(canonicalUnit('10*3/uL')!.unit).toBe('m-3');
    expect(canonicalUnit('meq/L')!.unit).toBe('eq.m-3');
    expect([canonicalUnit('kat')!.unit, canonicalUnit('kat')!.convert(2)]).toEqual([canonicalUnit('mol/s')!.unit, canonicalUnit('mol/s')!.convert(2)]);
  });

  it('converts the offset units (Cel, [degF]) to kelvin', () => {
    expect(canonicalUnit('Cel')!.convert(37)).toBe(310.15);
    expect(canonicalUnit('[degF]')!.convert(98.6)).toBe(310.15);
  });

  it('leaves annotated, arbitrary and invalid units alone', () => {
    expect(canonicalUnit('{score}')).toBeUndefined();
    expect(canonicalUnit('[IU]/L')).toBeUndefined();
    expect(canonicalUnit('not-a-unit')).toBeUndefined();
    expect(canonicalEntry({ low: 1, high: 1, system: 'http://other', code: 'mg' })).toBeUndefined();
  });

  it('converts a search value with its implicit precision range and its ap window', () => {
    const v = canonicalSearchValue(parseQuantity(`5.4|${UCUM}|mg`, 'value-quantity'))!;
    expect(v).toMatchObject({ value: 0.0054, low: 0.00535, high: 0.00545, system: UCUM, code: 'g' });
    const t = canonicalSearchValue(parseQuantity(`ap37|${UCUM}|Cel`, 'value-quantity'))!;
    expect(t.approx!.low).toBeCloseTo(306.45, 6); // 37 - 3.7 Cel
    expect(t.approx!.high).toBeCloseTo(313.85, 6);
    expect(canonicalSearchValue(parseQuantity('5.4||mg', 'value-quantity'))).toBeUndefined();
  });
});

/** Special units with an offset are computed as a·v + b (checked at three points); others through UCUM each time. */
describe('UCUM special units', () => {
  const ucum = UcumLhcUtils.getInstance();
  it.each(['Cel', '[degF]', '[pH]'])('%s converts as UCUM does (to 12 significant digits)', (code) => {
    for (const v of [-40, 0, 7.4, 36.6, 98.6, 120]) {
      const expected = ucum.convertToBaseUnits(code, v).magnitude!;
      const got = canonicalUnit(code)!.convert(v);
      expect(Math.abs(got - expected) / Math.max(1, Math.abs(expected))).toBeLessThan(1e-12);
    }
  });
});

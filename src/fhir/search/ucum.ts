import { UcumLhcUtils } from '@lhncbc/ucum-lhc';
import type { NumberValue } from './search-query';

/**
 * UCUM canonical units for quantity search (search.html#quantity: a search
 * for `5.4|http://unitsofmeasure.org|mg` matches a stored `5400 ug`). Both
 * sides are converted to UCUM base units (g, m, s, K, …; `mg/dL` → `g.m-3`)
 * with NLM's @lhncbc/ucum-lhc, the full UCUM (prefixes, compound and special
 * units), which the `fhirpath` engine already depends on. Units with
 * annotations (`{score}`) are left alone: UCUM reads them as 1, which would
 * equate unrelated counts; arbitrary units (`[IU]`) cannot be converted.
 */
export const UCUM = 'http://unitsofmeasure.org';
/** Canonical rows are stored under `<param>:ucum`. */
export const UCUM_SUFFIX = ':ucum';

interface Canonical {
  /** canonical unit, e.g. `g.m-3`; `1` when dimensionless */
  unit: string;
  /** value in that unit */
  convert(value: number): number;
}

const utils = UcumLhcUtils.getInstance();
const memo = new Map<string, Canonical | null>();

/** 15 significant digits: conversions in binary floating point leave noise below that (5400 ug → 0.005399999999999999 g). */
const round = (n: number) => Number(n.toPrecision(15));
/** UCUM's mol, the count ucum-lhc's base units read it as */
const AVOGADRO = 6.0221367e23;

export function canonicalUnit(code: string): Canonical | undefined {
  let c = memo.get(code);
  if (c === undefined) {
    c = null;
    const one = code.includes('{') ? undefined : utils.convertToBaseUnits(code, 1);
    if (one?.status === 'succeeded' && typeof one.magnitude === 'number' && one.unitToExp) {
      // moles and equivalents are dimensions of their own, as ucum-lhc converts them (mmol/L is no count per volume like
      // 10*3/uL, nor meq/L like mmol/L): base units leave them as Avogadro's number, so they are kept apart (mol.m-3)
      const unitOf = utils.getSpecifiedUnit(code, 'validate').unit;
      const exps: Record<string, number> = { ...one.unitToExp };
      if (unitOf?.moleExp_) exps.mol = unitOf.moleExp_;
      if (unitOf?.equivalentExp_) exps.eq = unitOf.equivalentExp_;
      const unit = Object.keys(exps).sort().map((u) => (exps[u] === 1 ? u : `${u}${exps[u]}`)).join('.') || '1';
      const factor = one.magnitude / AVOGADRO ** ((unitOf?.moleExp_ ?? 0) + (unitOf?.equivalentExp_ ?? 0));
      c = one.fromUnitIsSpecial
        ? { unit, convert: specialConversion(code) }
        : { unit, convert: (v) => round(v * factor) };
    }
    if (memo.size >= 5000) memo.clear();
    memo.set(code, c);
  }
  return c ?? undefined;
}

/**
 * A special unit's conversion (Cel, [degF]: an offset; [pH], B: logarithmic). An affine one (the
 * same as `a·v + b` at three points) is computed so, without parsing the unit at every value (a
 * Bundle of vital signs converted every body temperature); any other through UCUM each time.
 */
function specialConversion(code: string): (v: number) => number {
  const at = (v: number) => utils.convertToBaseUnits(code, v).magnitude ?? NaN;
  const [f0, f1, f100] = [at(0), at(1), at(100)];
  const a = (f100 - f0) / 100;
  if ([f0, f1, f100].every(Number.isFinite) && Math.abs(f0 + a - f1) <= 1e-9 * Math.max(1, Math.abs(f1))) {
    return (v) => round(a * v + f0);
  }
  return (v) => round(at(v));
}

/** A stored UCUM quantity (or Range) in canonical units; undefined when not UCUM or not convertible. */
export function canonicalEntry(e: { low: number | null; high: number | null; system: string | null; code: string | null }): { low: number | null; high: number | null; unit: string } | undefined {
  const c = e.system === UCUM && e.code ? canonicalUnit(e.code) : undefined;
  if (!c) return undefined;
  const low = e.low === null ? null : c.convert(e.low);
  const high = e.high === null ? null : c.convert(e.high);
  if (Number.isNaN(low) || Number.isNaN(high)) return undefined;
  return { low, high, unit: c.unit };
}

/** A quantity search value with a UCUM system and code, in canonical units; undefined otherwise. */
export function canonicalSearchValue(n: NumberValue): NumberValue | undefined {
  const c = n.system === UCUM && n.code ? canonicalUnit(n.code) : undefined;
  if (!c) return undefined;
  const d = Math.abs(n.value) * 0.1;
  const out: NumberValue = {
    prefix: n.prefix,
    value: c.convert(n.value),
    low: c.convert(n.low),
    high: c.convert(n.high),
    system: UCUM,
    code: c.unit,
    // `ap` is ±10% in the unit given (an offset unit such as Cel would otherwise widen it)
    approx: { low: c.convert(n.value - d), high: c.convert(n.value + d) },
  };
  return [out.value, out.low, out.high].some(Number.isNaN) ? undefined : out;
}

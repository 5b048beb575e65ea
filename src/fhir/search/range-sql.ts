import type { SqlParams } from '../storage/sql-params';
import type { DateValue, NumberValue } from './search-query';

/**
 * SQL conditions of date, number and quantity values on index rows
 * (search.html §2.1.1.4 prefixes, §2.1.1.3 implicit precision ranges).
 */

/**
 * search.html §2.1.1.4 prefixes on a date range [low, high] against the
 * search value's range [sl, sh] (its precision): eq = contained in,
 * gt/lt = some part above/below, ge/le = gt/lt or eq, sa/eb = wholly after
 * or before, ap = overlaps the value widened by 10% of its distance to now.
 */
const DAY = 24 * 3600_000;
/** The `span` classes of the index (see the migration): the widest value of class 0 and of class 1. */
const SPAN_LIMITS = [DAY, 366 * DAY];

/**
 * A condition implied by date conditions that bound `low` from above and
 * `high` from below (a window: eq, ap, or ge/gt with lt/le on one value):
 * per span class the value starts at most its class limit before the lower
 * bound, so the (phash, span, low) index reads a short range per class
 * instead of everything before the window. Without a lower bound on `high`
 * only the classes are listed, so the index is still used.
 */
export function spanHint(p: SqlParams, dates: DateValue[], x: string): string[] {
  let lowBounded = false;
  let highFrom: number | undefined;
  const atLeast = (t: number) => (highFrom = highFrom === undefined ? t : Math.max(highFrom, t));
  for (const d of dates) {
    const lo = d.range.low.getTime();
    const hi = d.range.high.getTime();
    if (d.prefix === 'eq' || d.prefix === 'lt' || d.prefix === 'le' || d.prefix === 'ap' || d.prefix === 'po') lowBounded = true;
    if (d.prefix === 'eq' || d.prefix === 'ge' || d.prefix === 'po') atLeast(lo);
    if (d.prefix === 'gt' || d.prefix === 'sa') atLeast(hi);
    if (d.prefix === 'ap') atLeast(apRange(d).low);
  }
  if (!lowBounded) return [];
  if (highFrom === undefined) return [`${x}.span = ANY('{0,1,2}'::smallint[])`];
  const from = highFrom;
  const classes = SPAN_LIMITS.map((limit, c) => `(${x}.span = ${c} AND ${x}.low >= ${p.bind(new Date(from - limit).toISOString(), 'timestamptz')})`);
  return [`(${classes.join(' OR ')} OR ${x}.span = 2)`];
}

/** `ap`: the value widened by 10% of its distance to now (at least a day). */
function apRange(d: DateValue): { low: number; high: number } {
  const widen = Math.max(Math.abs(Date.now() - d.range.low.getTime()) * 0.1, DAY);
  return { low: d.range.low.getTime() - widen, high: d.range.high.getTime() + widen };
}

export function dateCondition(p: SqlParams, d: DateValue, low: string, high: string): string {
  // bound only when used: an unused, untyped parameter is an error
  let slRef: string | undefined;
  let shRef: string | undefined;
  const bounds = {
    get sl() {
      return (slRef ??= p.bind(d.range.low.toISOString(), 'timestamptz'));
    },
    get sh() {
      return (shRef ??= p.bind(d.range.high.toISOString(), 'timestamptz'));
    },
  };
  return datePredicate(d, bounds, low, high, p);
}

function datePredicate(d: DateValue, b: { sl: string; sh: string }, low: string, high: string, p: SqlParams): string {
  switch (d.prefix) {
    case 'eq':
      return `(${low} >= ${b.sl} AND ${low} <= ${b.sh} AND ${high} <= ${b.sh})`;
    case 'ne':
      return `NOT (${low} >= ${b.sl} AND ${high} <= ${b.sh})`;
    case 'gt':
      return `${high} > ${b.sh}`;
    case 'lt':
      return `${low} < ${b.sl}`;
    case 'ge':
      return `(${high} >= ${b.sl} AND (${high} > ${b.sh} OR ${low} >= ${b.sl}))`;
    case 'le':
      return `(${low} <= ${b.sh} AND (${low} < ${b.sl} OR ${high} <= ${b.sh}))`;
    case 'sa':
      return `${low} > ${b.sh}`;
    case 'eb':
      return `${high} < ${b.sl}`;
    case 'po':
      // `_filter` po (search_filter.html): the stored range and the value's share an instant
      return `(${low} <= ${b.sh} AND ${high} >= ${b.sl})`;
    case 'ap': {
      const r = apRange(d);
      const wl = p.bind(new Date(r.low).toISOString(), 'timestamptz');
      const wh = p.bind(new Date(r.high).toISOString(), 'timestamptz');
      return `(${low} <= ${wh} AND ${high} >= ${wl})`;
    }
  }
}

/** search.html §2.1.1.3/§2.1.1.6 number and quantity against stored [low, high] (NULL = open). */
export function numberCondition(p: SqlParams, n: NumberValue, x: string): string {
  const num = (v: number | string) => p.bind(String(v), 'numeric');
  const L = `${x}.nlow`;
  const H = `${x}.nhigh`;
  const low = n.bounds?.low ?? n.low;
  const high = n.bounds?.high ?? n.high;
  // search.html#number: gt/lt/ge/le compare with the value exactly (`lt99.945844855548263` is not the double 99.94584485554826)
  const value = n.exact ?? n.value;
  let cond: string;
  switch (n.prefix) {
    case 'eq':
      cond = `(${L} >= ${num(low)} AND ${L} < ${num(high)} AND ${H} < ${num(high)})`;
      break;
    case 'ne':
      cond = `NOT coalesce(${L} >= ${num(low)} AND ${H} < ${num(high)}, false)`;
      break;
    case 'gt':
      cond = `(${H} IS NULL OR ${H} > ${num(value)})`;
      break;
    case 'lt':
      cond = `(${L} IS NULL OR ${L} < ${num(value)})`;
      break;
    case 'ge':
      cond = `(${H} IS NULL OR ${H} >= ${num(value)})`;
      break;
    case 'le':
      cond = `(${L} IS NULL OR ${L} <= ${num(value)})`;
      break;
    // search.html#prefix: the stored range starts after / ends before the value's implicit range [low, high)
    case 'sa':
      cond = `${L} >= ${num(high)}`;
      break;
    case 'eb':
      cond = `${H} < ${num(low)}`;
      break;
    case 'ap': {
      const d = Math.abs(n.value) * 0.1;
      const w = n.approx ?? { low: n.value - d, high: n.value + d };
      cond = `((${L} IS NULL OR ${L} <= ${num(w.high)}) AND (${H} IS NULL OR ${H} >= ${num(w.low)}))`;
      break;
    }
  }
  if (n.system !== undefined) cond += ` AND ${x}.system = ${p.bind(n.system, 'text')}`;
  if (n.code !== undefined) cond += ` AND ${x}.value = ${p.bind(n.code, 'text')}`;
  return cond;
}


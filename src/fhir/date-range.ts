/**
 * FHIR date/dateTime/instant values as the instant range they cover
 * (search.html §2.1.1.5: a value of lower precision is an implicit range,
 * `2021` is 2021-01-01T00:00:00 .. 2021-12-31T23:59:59.999).
 * Times without a zone are taken as UTC.
 */
export interface DateRange {
  low: Date;
  /** inclusive upper bound, millisecond precision */
  high: Date;
}

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export function parseDateRange(value: string): DateRange | undefined {
  const m = DATE_RE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) : undefined;
  const day = d ? Number(d) : undefined;
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > daysIn(year, month!))) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 60))) return undefined;
  const offsetMin = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) : 0;
  const utc = (yy: number, mm: number, dd: number, hh = 0, mi2 = 0, ss = 0, ms = 0) =>
    new Date(Date.UTC(yy, mm, dd, hh, mi2, ss, ms) - offsetMin * 60_000);
  if (month === undefined) return { low: utc(year, 0, 1), high: new Date(utc(year + 1, 0, 1).getTime() - 1) };
  if (day === undefined) return { low: utc(year, month - 1, 1), high: new Date(utc(year, month, 1).getTime() - 1) };
  if (h === undefined) return { low: utc(year, month - 1, day), high: new Date(utc(year, month - 1, day + 1).getTime() - 1) };
  if (s === undefined) {
    const low = utc(year, month - 1, day, Number(h), Number(mi));
    return { low, high: new Date(low.getTime() + 60_000 - 1) };
  }
  if (frac === undefined || frac.length <= 1) {
    const low = utc(year, month - 1, day, Number(h), Number(mi), Number(s));
    return { low, high: new Date(low.getTime() + 999) };
  }
  // fractional seconds: precision of the digits given (to the millisecond)
  const digits = frac.slice(1);
  const ms = Number(digits.slice(0, 3).padEnd(3, '0'));
  const low = utc(year, month - 1, day, Number(h), Number(mi), Number(s), ms);
  const span = digits.length >= 3 ? 0 : 10 ** (3 - digits.length) - 1;
  return { low, high: new Date(low.getTime() + span) };
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

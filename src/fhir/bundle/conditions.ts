import type { Params } from './bundle.types';

/** Parameters a search condition may carry that do not select resources. */
const RESULT_PARAMETERS = new Set(['_format', '_pretty', '_count', '_sort', '_summary', '_elements', '_total']);

/**
 * Parses a query string (`identifier=a|b&active=true`, with or without a
 * leading `?`) into ordered pairs. `If-None-Exist` and `ifNoneExist` carry
 * such strings; some clients send the whole `Type?query` form.
 */
export function parseQuery(query: string): Params {
  let q = query.trim();
  const qm = q.indexOf('?');
  if (qm >= 0) q = q.slice(qm + 1);
  return [...new URLSearchParams(q).entries()];
}

/** The selecting parameters of a condition (result-shaping ones dropped). */
export function conditionParams(params: Params): Params {
  return params.filter(([k]) => !RESULT_PARAMETERS.has(k));
}

/**
 * A canonical text for "these resources of this type": parameters sorted, so
 * `a=1&b=2` and `b=2&a=1` are the same condition. Used as the key of the
 * advisory lock that makes conditional interactions atomic, and to spot two
 * entries of one Bundle with the same condition.
 */
export function conditionKey(resourceType: string, params: Params): string {
  const sorted = [...params].sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return `${resourceType}?${new URLSearchParams(sorted).toString()}`;
}

/** `Patient?identifier=a|b` → ['Patient', pairs]; undefined when the reference is not conditional. */
export function parseConditionalReference(reference: string): { resourceType: string; params: Params } | undefined {
  const qm = reference.indexOf('?');
  if (qm <= 0) return undefined;
  const resourceType = reference.slice(0, qm);
  if (!/^[A-Z][A-Za-z]+$/.test(resourceType)) return undefined;
  return { resourceType, params: parseQuery(reference.slice(qm + 1)) };
}

import type { SearchParameterInfo } from '../definitions/definitions';

/**
 * A cheap necessary condition for a Subscription's criteria, checked on a
 * changed resource's JSON text before the exact check through the search
 * engine: for each reference or token parameter without modifiers, the
 * resource can only match if one of the wanted ids or codes occurs in its
 * text. It never rules out a real match (other parameters, modifiers,
 * chains and escaped values are not pre-checked), it only saves the search
 * queries of Subscriptions that plainly cannot match (another patient's
 * Observation, another code), which keeps matching cost flat as
 * Subscriptions multiply.
 */
export function criteriaPrefilter(criteria: [string, string][], params: SearchParameterInfo[]): (json: string) => boolean {
  const needles: string[][] = [];
  for (const [name, value] of criteria) {
    if (name.includes(':') || name.includes('.') || name.startsWith('_')) continue;
    const sp = params.find((p) => p.code === name);
    if (!sp || (sp.type !== 'reference' && sp.type !== 'token')) continue;
    const alternatives = value.split(',').map((v) => (sp.type === 'reference' ? referenceId(v) : tokenCode(v)));
    // one alternative we cannot turn into text (or an escaped character) leaves the parameter unchecked
    if (alternatives.some((a) => !a || /["\\]/.test(a))) continue;
    needles.push(alternatives as string[]);
  }
  return (json) => needles.every((alternatives) => alternatives.some((n) => json.includes(n)));
}

/** `Patient/123`, `http://…/Patient/123` or `123` → the text a matching reference contains. */
function referenceId(v: string): string | undefined {
  const m = /([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/.exec(v);
  if (m) return m[1];
  return /^[A-Za-z0-9\-.]{1,64}$/.test(v) ? v : undefined;
}

/** `system|code`, `|code` or `code` → the code; `system|` alone says nothing about the text. */
function tokenCode(v: string): string | undefined {
  const code = v.includes('|') ? v.slice(v.indexOf('|') + 1) : v;
  return code || undefined;
}

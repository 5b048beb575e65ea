import type { ScopeRule } from './auth-context';

export type Interaction = 'c' | 'r' | 'u' | 'd' | 's';
export const ALL_INTERACTIONS: Interaction[] = ['c', 'r', 'u', 'd', 's'];

/** SMART 1.0 permissions as SMART 2.0 letters (App Launch 2.0 §"Scopes for requesting clinical data"). */
const V1_PERMISSIONS: Record<string, Interaction[]> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

/** `context/Type.permissions?query`; v2 letters must appear in the order c r u d s. */
const RESOURCE_SCOPE = /^(patient|user|system)\/([A-Z][A-Za-z]*|\*)\.([a-z]+|\*)(\?.+)?$/;
const V2_LETTERS = /^c?r?u?d?s?$/;

/** Scopes that are not about resources, as the server understands them. */
export const NON_RESOURCE_SCOPES = [
  'openid',
  'fhirUser',
  'profile',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
];

/** One resource scope as a ScopeRule; undefined when it is not a (well-formed) resource scope. */
export function parseResourceScope(scope: string, isResourceType?: (t: string) => boolean): ScopeRule | undefined {
  const m = RESOURCE_SCOPE.exec(scope);
  if (!m) return undefined;
  const [, context, resourceType, permissions, query] = m;
  if (resourceType !== '*' && isResourceType && !isResourceType(resourceType)) return undefined;
  let letters: Interaction[];
  if (V1_PERMISSIONS[permissions]) {
    if (query) return undefined; // granular filters exist only in v2
    letters = V1_PERMISSIONS[permissions];
  } else if (V2_LETTERS.test(permissions)) {
    letters = permissions.split('') as Interaction[];
  } else {
    return undefined;
  }
  const filter: [string, string][] = query ? [...new URLSearchParams(query.slice(1))] : [];
  if (query && (!filter.length || filter.some(([k, v]) => !k || !v))) return undefined;
  return { context: context as ScopeRule['context'], resourceType, interactions: new Set(letters), filter };
}

export interface ParsedScopes {
  /** every well-formed scope, in order, without duplicates */
  scopes: string[];
  rules: ScopeRule[];
}

/** A space-separated scope string → the scopes the server understands and their rules (unknown ones dropped). */
export function parseScopes(scope: string | undefined, isResourceType?: (t: string) => boolean): ParsedScopes {
  const scopes: string[] = [];
  const rules: ScopeRule[] = [];
  for (const s of new Set((scope ?? '').split(/\s+/).filter(Boolean))) {
    const rule = parseResourceScope(s, isResourceType);
    if (rule) rules.push(rule);
    else if (!NON_RESOURCE_SCOPES.includes(s)) continue;
    scopes.push(s);
  }
  return { scopes, rules };
}

/** Does `granted` allow everything `wanted` allows (same context, type, letters, filter)? */
export function ruleCovers(granted: ScopeRule, wanted: ScopeRule): boolean {
  if (granted.context !== wanted.context) return false;
  if (granted.resourceType !== '*' && granted.resourceType !== wanted.resourceType) return false;
  for (const i of wanted.interactions) if (!granted.interactions.has(i)) return false;
  if (!granted.filter.length) return true;
  return sameFilter(granted.filter, wanted.filter);
}

function sameFilter(a: [string, string][], b: [string, string][]): boolean {
  const key = (f: [string, string][]) => f.map(([k, v]) => `${k}=${v}`).sort().join('&');
  return key(a) === key(b);
}

/**
 * The requested scopes a client may have: each requested scope must be
 * covered by the client's registered scopes (a resource scope by a broader
 * or equal one, any other scope literally). Granted may be fewer than asked.
 */
export function allowedScopes(requested: string[], registered: string[], isResourceType?: (t: string) => boolean): string[] {
  const registeredRules = registered.map((s) => parseResourceScope(s, isResourceType)).filter((r): r is ScopeRule => !!r);
  return requested.filter((s) => {
    const rule = parseResourceScope(s, isResourceType);
    if (!rule) return registered.includes(s);
    return registeredRules.some((g) => ruleCovers(g, rule));
  });
}

/**
 * Does a granular scope name only search parameters of its type? One that
 * does not could never be applied (the resource server would hide the type
 * or refuse every request), so the grant drops it instead.
 */
export function filterApplicable(scope: string, hasParam: (type: string, code: string) => boolean): boolean {
  const rule = parseResourceScope(scope);
  if (!rule?.filter.length || rule.resourceType === '*') return true;
  return rule.filter.every(([name]) => hasParam(rule.resourceType, name.split(':')[0]));
}

/** An interaction letter in words, for messages. */
export const INTERACTION_WORDS: Record<Interaction, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/** A scope in plain words, for the consent page. */
export function describeScope(scope: string): string {
  switch (scope) {
    case 'openid':
    case 'fhirUser':
      return 'Know who you are (your user identity)';
    case 'profile':
      return 'See your user profile';
    case 'launch':
      return 'Use the patient and encounter selected in the EHR';
    case 'launch/patient':
      return 'Know which patient is selected';
    case 'launch/encounter':
      return 'Know which encounter is selected';
    case 'offline_access':
      return 'Keep access when you are not using the app (until you revoke it)';
    case 'online_access':
      return 'Keep access while you are using the app';
  }
  const rule = parseResourceScope(scope);
  if (!rule) return scope;
  const verbs = [...rule.interactions].map((i) => INTERACTION_WORDS[i]);
  const list = verbs.length > 1 ? `${verbs.slice(0, -1).join(', ')} and ${verbs[verbs.length - 1]}` : verbs[0];
  const what = rule.resourceType === '*' ? 'all kinds of records' : `${rule.resourceType} records`;
  const whose =
    rule.context === 'patient'
      ? 'about the selected patient'
      : rule.context === 'user'
        ? 'that you can access'
        : 'on the whole server';
  const only = rule.filter.length ? ` (only where ${rule.filter.map(([k, v]) => `${k} is ${v}`).join(' and ')})` : '';
  return `${list[0].toUpperCase()}${list.slice(1)} ${what} ${whose}${only}`;
}

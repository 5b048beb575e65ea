import type { Coding, Meta, Parameters } from 'fhir/r4';
import { badRequest } from '../errors';

/** The three sets of Meta that $meta, $meta-add and $meta-delete work on (R4 resource-operation-meta*.html). */
export type MetaSet = 'profile' | 'tag' | 'security';
export const META_SETS: readonly MetaSet[] = ['profile', 'tag', 'security'];

/** Identity of an element of a set: a profile by its full URL, a tag or security label by system + code. */
function identity(set: MetaSet, item: string | Coding): string {
  if (set === 'profile') return item as string;
  const c = item as Coding;
  return `${c.system ?? ''}|${c.code ?? ''}`;
}

/**
 * `meta` with the profiles, tags and security labels of `add` that it does not hold yet (they are
 * sets: a tag or label already there, by system + code, keeps its version and display).
 */
export function addMeta(meta: Meta, add: Meta): Meta {
  const out: Meta = { ...meta };
  for (const set of META_SETS) {
    const have = ((meta[set] ?? []) as (string | Coding)[]).slice();
    const ids = new Set(have.map((x) => identity(set, x)));
    for (const item of (add[set] ?? []) as (string | Coding)[]) {
      const id = identity(set, item);
      if (!ids.has(id)) {
        ids.add(id);
        have.push(item);
      }
    }
    setOrDrop(out, set, have);
  }
  return out;
}

/** `meta` without the profiles, tags and security labels of `remove` (absent ones are not an error). */
export function removeMeta(meta: Meta, remove: Meta): Meta {
  const out: Meta = { ...meta };
  for (const set of META_SETS) {
    const gone = new Set(((remove[set] ?? []) as (string | Coding)[]).map((x) => identity(set, x)));
    setOrDrop(out, set, ((meta[set] ?? []) as (string | Coding)[]).filter((x) => !gone.has(identity(set, x))));
  }
  return out;
}

function setOrDrop(meta: Meta, set: MetaSet, items: (string | Coding)[]): void {
  if (items.length) (meta as Record<MetaSet, unknown>)[set] = items;
  else delete meta[set];
}

/** Same profiles, tags and security labels (by identity, in any order)? */
export function sameSets(a: Meta, b: Meta): boolean {
  return META_SETS.every((set) => {
    const ids = (m: Meta) => ((m[set] ?? []) as (string | Coding)[]).map((x) => identity(set, x)).sort().join('\n');
    return ids(a) === ids(b);
  });
}

/** The operations' answer: a Parameters resource with the Meta as `return`. */
export function metaParameters(meta: Meta): Parameters {
  return { resourceType: 'Parameters', parameter: [{ name: 'return', valueMeta: meta }] };
}

/** The `meta` IN parameter (type Meta, 1..1) of a $meta-add / $meta-delete body; 400 when absent or malformed. */
export function metaParameter(body: unknown, op: string): Meta {
  const params = (body as Parameters | undefined)?.resourceType === 'Parameters' ? (body as Parameters).parameter : undefined;
  const found = Array.isArray(params) ? params.filter((p) => p?.name === 'meta') : [];
  if (found.length !== 1 || !isObject(found[0].valueMeta)) {
    throw badRequest(`$${op} takes a Parameters resource with exactly one "meta" parameter of type Meta (valueMeta)`, ['Parameters.parameter']);
  }
  const meta = found[0].valueMeta as Meta;
  if (!Array.isArray(meta.profile ?? []) || (meta.profile ?? []).some((p) => typeof p !== 'string' || !p)) {
    throw badRequest('meta.profile must be a list of canonical URLs', ['Parameters.parameter.valueMeta.profile']);
  }
  for (const set of ['tag', 'security'] as const) {
    const list = meta[set] ?? [];
    if (!Array.isArray(list) || list.some((c) => !isObject(c) || (typeof c.code !== 'string' && typeof c.system !== 'string'))) {
      throw badRequest(`meta.${set} must be a list of Codings with a system and a code`, [`Parameters.parameter.valueMeta.${set}`]);
    }
  }
  return meta;
}

/** Rows of the system/type summary (`kind`: the set; `system`, `code`, `display`; a profile's URL in `system`) as one Meta. */
export function metaSummary(rows: { kind: MetaSet; system: string | null; code: string | null; display: string | null; version: string | null }[]): Meta {
  const meta: Meta = {};
  for (const r of rows) {
    if (r.kind === 'profile') (meta.profile ??= []).push(r.system!);
    else {
      const c: Coding = {};
      if (r.system !== null) c.system = r.system;
      if (r.version !== null) c.version = r.version;
      if (r.code !== null) c.code = r.code;
      if (r.display !== null) c.display = r.display;
      (meta[r.kind] ??= []).push(c);
    }
  }
  return meta;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return !!x && typeof x === 'object' && !Array.isArray(x);
}

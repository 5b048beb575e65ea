/** Where a reference string sits inside a resource, so it can be replaced in place. */
export interface ReferenceSite {
  holder: Record<string, unknown>;
  key: string;
  /** reference: Reference.reference; link: a uri/url element holding a placeholder; div: a narrative */
  kind: 'reference' | 'link' | 'div';
  value: string;
}

/** Elements of type uri/url/uuid/oid that may link to another entry (`Attachment.url`, extension values). */
const LINK_KEYS = new Set(['url', 'valueUri', 'valueUrl', 'valueUuid', 'valueOid']);

/**
 * Every `Reference.reference` string of a resource, at any depth (extensions,
 * contained resources, backbone elements); uri/url elements and narratives
 * (`Narrative.div`) that mention `urn:uuid:` / `urn:oid:` placeholders
 * (http.html §3.1.0.11.2: "all matching links"). One walk; the caller
 * resolves and then rewrites the sites it got.
 */
export function collectReferences(node: unknown, out: ReferenceSite[] = []): ReferenceSite[] {
  if (Array.isArray(node)) {
    for (const item of node) if (item !== null && typeof item === 'object') collectReferences(item, out);
    return out;
  }
  const obj = node as Record<string, unknown>;
  for (const key in obj) {
    const v = obj[key];
    if (typeof v === 'string') {
      if (key === 'reference') out.push({ holder: obj, key, kind: 'reference', value: v });
      else if (key === 'div' && v.includes('urn:')) out.push({ holder: obj, key, kind: 'div', value: v });
      else if (v.startsWith('urn:') && LINK_KEYS.has(key)) out.push({ holder: obj, key, kind: 'link', value: v });
    } else if (v !== null && typeof v === 'object') {
      collectReferences(v, out);
    }
  }
  return out;
}

const PLACEHOLDER_IN_TEXT = /urn:(?:uuid|oid):[A-Za-z0-9.\-]+/g;

/** True for the placeholder forms a transaction must resolve (`urn:uuid:…`, `urn:oid:…`). */
export function isPlaceholder(ref: string): boolean {
  return ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:');
}

/**
 * Rewrites the sites with `resolve` (undefined: leave as is). A narrative
 * gets each placeholder it mentions replaced (links to bundle entries).
 */
export function rewriteReferences(sites: ReferenceSite[], resolve: (ref: string) => string | undefined): void {
  for (const site of sites) {
    if (site.kind === 'div') {
      site.holder.div = site.value.replace(PLACEHOLDER_IN_TEXT, (m) => resolve(m) ?? m);
    } else {
      const to = resolve(site.value);
      if (to !== undefined) site.holder[site.key] = to;
    }
  }
}

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
 * contained resources, backbone elements); uri/url elements holding a
 * `urn:uuid:` / `urn:oid:` placeholder or an absolute URL (an entry's fullUrl
 * may be `http://…/Binary/1`, as `Attachment.url` of the R4 example Bundle-xds
 * names it), and narratives (`Narrative.div`) that mention placeholders or link
 * (`href=`, `src=`) anywhere (http.html §3.1.0.11.2: "all matching links"); not inside the entries
 * of a Bundle resource (a document or collection written by the transaction).
 * One walk; the caller resolves and then rewrites the sites it got.
 */
export function collectReferences(node: unknown, out: ReferenceSite[] = []): ReferenceSite[] {
  if (Array.isArray(node)) {
    for (const item of node) if (item !== null && typeof item === 'object') collectReferences(item, out);
    return out;
  }
  const obj = node as Record<string, unknown>;
  // a Bundle stored as a resource (a document, a collection) resolves its entries' references among its own
  // fullUrls (bundle.html#references): they are not the transaction's to resolve or rewrite
  const nested = obj.resourceType === 'Bundle';
  for (const key in obj) {
    const v = obj[key];
    if (nested && key === 'entry') continue;
    if (typeof v === 'string') {
      if (key === 'reference') out.push({ holder: obj, key, kind: 'reference', value: v });
      else if (key === 'div' && (v.includes('urn:') || v.includes('href=') || v.includes('src='))) out.push({ holder: obj, key, kind: 'div', value: v });
      else if (LINK_KEYS.has(key) && (v.startsWith('urn:') || v.startsWith('http://') || v.startsWith('https://'))) out.push({ holder: obj, key, kind: 'link', value: v });
    } else if (v !== null && typeof v === 'object') {
      collectReferences(v, out);
    }
  }
  return out;
}

const PLACEHOLDER_IN_TEXT = /urn:(?:uuid|oid):[A-Za-z0-9.\-]+/g;
/** an absolute link of a narrative: `href="http…"` / `src="http…"` (the URL is group 2) */
const ABSOLUTE_LINK_IN_TEXT = /(\s(?:href|src)=")(https?:\/\/[^"]+)(")/g;

/** True for the placeholder forms a transaction must resolve (`urn:uuid:…`, `urn:oid:…`). */
export function isPlaceholder(ref: string): boolean {
  return ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:');
}

/**
 * Rewrites the sites with `resolve` (undefined: leave as is). A narrative
 * gets each placeholder it mentions and each absolute link (href, src) that
 * resolves replaced (links to bundle entries).
 */
export function rewriteReferences(sites: ReferenceSite[], resolve: (ref: string) => string | undefined): void {
  for (const site of sites) {
    if (site.kind === 'div') {
      site.holder.div = site.value
        .replace(PLACEHOLDER_IN_TEXT, (m) => resolve(m) ?? m)
        .replace(ABSOLUTE_LINK_IN_TEXT, (all, before: string, url: string, after: string) => {
          const to = resolve(url);
          return to === undefined ? all : before + to + after;
        });
    } else {
      const to = resolve(site.value);
      if (to !== undefined) site.holder[site.key] = to;
    }
  }
}

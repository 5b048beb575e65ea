import { words } from './normalize';

/** JSON properties whose values are identifiers, links or binary data, not text worth searching. */
const SKIP_KEYS = new Set(['id', 'reference', 'url', 'system', 'div', 'data', 'meta', 'fullUrl', 'contentType', 'photo']);
const MAX_STRING = 4000;

/** Lexemes of the narrative (`_text`, search.html §2.1.1.8): the XHTML's text content. */
export function narrativeLexemes(resource: any): string[] {
  return divLexemes(resource?.text?.div);
}

function divLexemes(div: unknown): string[] {
  if (typeof div !== 'string' || div === '') return [];
  const plain = div
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(nbsp|amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, (m, e: string) => ENTITIES[e.toLowerCase()] ?? decodeNumeric(e) ?? m);
  return words(plain);
}

/**
 * Lexemes of the whole resource (`_content`, search.html#content: "the entire content of the
 * resource"): every textual value except ids and links, and the narrative's text (not its markup).
 */
export function contentLexemes(resource: any, narrative?: string[]): string[] {
  const out: string[] = [];
  // the resource's own narrative: its lexemes as the caller already read them for `_text`
  collect(resource, out, 0, narrative && { text: resource?.text, lexemes: narrative });
  return out;
}

function collect(v: any, out: string[], depth: number, own?: { text: unknown; lexemes: string[] }): void {
  if (depth > 12 || out.length > 2000) return;
  if (typeof v === 'string') {
    if (v.length <= MAX_STRING && !/^\d{4}-\d{2}/.test(v) && !/^(urn|https?):/.test(v)) out.push(...words(v));
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) collect(x, out, depth + 1, own);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  for (const k of Object.keys(v)) {
    if (k === 'div') out.push(...(own && v === own.text ? own.lexemes : divLexemes(v[k])));
    if (SKIP_KEYS.has(k) || k.startsWith('_') || k === 'resourceType') continue;
    collect(v[k], out, depth + 1, own);
  }
}

const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeNumeric(e: string): string | undefined {
  const m = /^#(x?)([0-9a-f]+)$/i.exec(e);
  if (!m) return undefined;
  const code = parseInt(m[2], m[1] ? 16 : 10);
  return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : undefined;
}

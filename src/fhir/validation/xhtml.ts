/**
 * Basic check of Narrative.div (narrative.html §2.4.0.1, json.html §2.6.2.7):
 * well-formed XHTML, a root `div` in the XHTML namespace, only the basic
 * formatting elements (txt-1: no scripts, forms, frames, event handlers) and
 * some content (txt-2). Not a full XML parser: enough to refuse what a
 * browser-side reader of the narrative must never get.
 */

export interface XhtmlProblem {
  /** malformed: not well-formed XHTML; invariant: txt-1/txt-2 */
  kind: 'malformed' | 'invariant';
  message: string;
}

const XHTML_NS = 'http://www.w3.org/1999/xhtml';

// txt-1: the HTML 4.0 basic formatting elements, tables, lists, links and images
const ALLOWED_ELEMENTS = new Set(
  (
    'p br div h1 h2 h3 h4 h5 h6 a span b em i strong small big tt dfn q var abbr acronym cite ' +
    'blockquote hr address bdo kbd sub sup ul ol li dl dt dd pre table caption colgroup col thead ' +
    'tr tfoot tbody th td code samp img map area'
  ).split(' '),
);

const TOKEN =
  /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[^\s=/>]+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?)*)\s*(\/?)>|&(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);|[<&]/g;
const ATTRIBUTE = /([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'))?/g;

export function checkXhtml(div: string): XhtmlProblem | undefined {
  const stack: string[] = [];
  let content = false;
  let rootClosed = false;
  let last = 0;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(div); m; m = TOKEN.exec(div)) {
    const text = div.slice(last, m.index);
    last = TOKEN.lastIndex;
    if (/\S/.test(text)) {
      if (!stack.length) return malformed('text outside the root div');
      content = true;
    }
    const token = m[0];
    if (token === '<' || token === '&') return malformed(`unescaped "${token}" at offset ${m.index}`);
    if (token.startsWith('&')) {
      if (!stack.length) return malformed('text outside the root div');
      content = true;
      continue;
    }
    if (token.startsWith('<!--') || token.startsWith('<?')) continue;
    if (token.startsWith('<![CDATA[')) {
      content = true;
      continue;
    }
    const [, closing, name, attrs, selfClosing] = m;
    const local = name.toLowerCase().replace(/^.*:/, '');
    if (closing) {
      if (stack.pop() !== name) return malformed(`</${name}> does not close the open element`);
      if (!stack.length) rootClosed = true;
      continue;
    }
    if (rootClosed) return malformed('content after the root div');
    if (!stack.length) {
      if (local !== 'div') return malformed(`the root element must be <div>, not <${name}>`);
      if (!hasNamespace(attrs)) return malformed(`the root div must declare xmlns="${XHTML_NS}"`);
    }
    if (!ALLOWED_ELEMENTS.has(local)) return invariant(`txt-1: <${name}> is not allowed in a narrative`);
    const bad = forbiddenAttribute(attrs);
    if (bad) return invariant(`txt-1: attribute ${bad} is not allowed in a narrative`);
    if (local === 'img') content = true;
    if (!selfClosing) stack.push(name);
    else if (!stack.length) rootClosed = true;
  }
  if (/\S/.test(div.slice(last))) return malformed('text outside the root div');
  if (stack.length) return malformed(`<${stack[stack.length - 1]}> is not closed`);
  if (!rootClosed) return malformed('a narrative must be a <div> element');
  if (!content) return invariant('txt-2: the narrative must have some non-whitespace content');
  return undefined;
}

function hasNamespace(attrs: string): boolean {
  ATTRIBUTE.lastIndex = 0;
  for (let a = ATTRIBUTE.exec(attrs); a; a = ATTRIBUTE.exec(attrs)) {
    if (a[1] === 'xmlns' && (a[2] ?? a[3]) === XHTML_NS) return true;
  }
  return false;
}

/** Event handlers and script URLs: what makes a narrative executable. */
function forbiddenAttribute(attrs: string): string | undefined {
  if (!attrs) return undefined;
  ATTRIBUTE.lastIndex = 0;
  for (let a = ATTRIBUTE.exec(attrs); a; a = ATTRIBUTE.exec(attrs)) {
    const name = a[1].toLowerCase();
    const value = (a[2] ?? a[3] ?? '').trim().toLowerCase();
    if (name.startsWith('on')) return name;
    if ((name === 'href' || name === 'src') && /^(javascript|vbscript):/.test(value)) return `${name}="${value.slice(0, 20)}"`;
  }
  return undefined;
}

const malformed = (message: string): XhtmlProblem => ({ kind: 'malformed', message });
const invariant = (message: string): XhtmlProblem => ({ kind: 'invariant', message });

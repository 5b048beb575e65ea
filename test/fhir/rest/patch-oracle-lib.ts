import * as fs from 'fs';
import * as path from 'path';

/**
 * The oracle of test/fhir/rest/patch-oracle.e2e-spec.ts: an independent RFC 6902 (JSON Patch) applier over
 * RFC 6901 JSON Pointers, and a seeded generator of patches made from a resource's own content. Nothing here
 * imports the server's code or fast-json-patch.
 */
export const R4_EXAMPLES = path.resolve(__dirname, '../../../../shared/fixtures/r4-examples');

/** Types left out: special stores or semantics (Binary, AuditEvent, Subscription), containers of resources. */
const SKIP_TYPES = new Set(['Binary', 'Bundle', 'AuditEvent', 'Subscription', 'Parameters', 'OperationOutcome']);

/** Every `step`-th example file (name order) of a writable type, at most 60 kB: a deterministic subset. */
export function pickExamples(count: number): any[] {
  const files = fs
    .readdirSync(R4_EXAMPLES)
    .filter((f) => f.endsWith('.json') && !SKIP_TYPES.has(f.split('-')[0]))
    .sort()
    .filter((f) => fs.statSync(path.join(R4_EXAMPLES, f)).size < 60_000);
  const step = files.length / count;
  const out: any[] = [];
  for (let i = 0; i < count; i++) out.push(JSON.parse(fs.readFileSync(path.join(R4_EXAMPLES, files[Math.floor(i * step)]), 'utf8')));
  return out;
}


export type Op = { op: string; path: string; from?: string; value?: unknown };
export class PatchError extends Error {}

export const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const isObj = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** RFC 6902 §4.6 equality: objects by members whatever their order, arrays item by item, no type coercion. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (!isObj(a) || !isObj(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/** RFC 6901 §3-4: "/a/b~1c/~0d" → ["a", "b/c", "~d"] (~1 before ~0, so "~01" is "~1"). */
export function parsePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new PatchError(`"${p}" is not a JSON Pointer`);
  return p
    .slice(1)
    .split('/')
    .map((t) => {
      if (/~([^01]|$)/.test(t)) throw new PatchError(`bad escape in "${p}"`);
      return t.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}
export const pointer = (tokens: (string | number)[]) => tokens.map((t) => '/' + String(t).replace(/~/g, '~0').replace(/\//g, '~1')).join('');

/** RFC 6901 §4: an array index is "0" or digits without a leading zero; "-" (past the end) only where adding. */
function index(arr: unknown[], token: string, adding: boolean): number {
  if (adding && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(`"${token}" is not an array index`);
  const i = Number(token);
  if (i > arr.length || (!adding && i === arr.length)) throw new PatchError(`index ${i} is out of bounds`);
  return i;
}

function child(node: unknown, token: string): unknown {
  if (Array.isArray(node)) return node[index(node, token, false)];
  if (isObj(node) && hasOwn(node, token)) return node[token];
  throw new PatchError(`"${token}" does not exist`);
}

function valueAt(doc: unknown, tokens: string[]): unknown {
  return tokens.reduce(child, doc);
}

function parentAt(doc: unknown, tokens: string[]): any {
  const parent = valueAt(doc, tokens.slice(0, -1));
  if (parent === null || typeof parent !== 'object') throw new PatchError('the parent is not a container');
  return parent;
}

function addAt(doc: unknown, tokens: string[], value: unknown): unknown {
  if (!tokens.length) return value;
  const parent = parentAt(doc, tokens);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) parent.splice(index(parent, last, true), 0, value);
  else parent[last] = value;
  return doc;
}

function removeAt(doc: unknown, tokens: string[]): unknown {
  if (!tokens.length) throw new PatchError('the oracle does not remove the whole document');
  const parent = parentAt(doc, tokens);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) return parent.splice(index(parent, last, false), 1)[0];
  if (!hasOwn(parent, last)) throw new PatchError(`"${last}" does not exist`);
  const v = parent[last];
  delete parent[last];
  return v;
}

/** RFC 6902 §4: the operations in order on a copy; the first error aborts the whole patch (§5). */
export function applyJsonPatch<T>(document: T, ops: Op[]): T {
  let doc: unknown = clone(document);
  for (const o of ops) {
    const to = parsePointer(o.path);
    switch (o.op) {
      case 'add':
        doc = addAt(doc, to, clone(o.value));
        break;
      case 'remove':
        removeAt(doc, to);
        break;
      case 'replace':
        if (!to.length) doc = clone(o.value);
        else {
          valueAt(doc, to); // §4.3: the target MUST exist
          removeAt(doc, to);
          doc = addAt(doc, to, clone(o.value));
        }
        break;
      case 'move': {
        const from = parsePointer(o.from!);
        // §4.4: "from" MUST NOT be a proper prefix of "path"
        if (from.length < to.length && from.every((t, i) => t === to[i])) throw new PatchError('move into its own child');
        doc = addAt(doc, to, removeAt(doc, from));
        break;
      }
      case 'copy':
        doc = addAt(doc, to, clone(valueAt(doc, parsePointer(o.from!))));
        break;
      case 'test':
        if (!jsonEqual(valueAt(doc, to), o.value)) throw new PatchError(`test ${o.path} failed`);
        break;
      default:
        throw new PatchError(`unknown op ${o.op}`);
    }
  }
  return doc as T;
}

// ---- the generator ------------------------------------------------------------------------------------

/** Free-text string elements: any string keeps them valid (never codes, uris, ids, dates, references). */
const FREE_TEXT = new Set(['display', 'family', 'description', 'comment', 'title', 'text', 'valueString', 'purpose', 'patientInstruction', 'label', 'summary']);
/** Subtrees never touched: server-managed meta, narrative XHTML, contained resources, lists whose items must stay unique. */
const NO_GO = new Set(['meta', 'text', 'contained', 'item', 'entry', 'link', 'id']);

type Place = { tokens: (string | number)[]; value: any; parent: any };

function places(doc: any): { leaves: Place[]; arrays: Place[]; objects: Place[] } {
  const leaves: Place[] = [];
  const arrays: Place[] = [];
  const objects: Place[] = [];
  const walk = (node: any, tokens: (string | number)[]) => {
    for (const [k, v] of Object.entries(node)) {
      if (NO_GO.has(k) || k.startsWith('_')) continue;
      const here = [...tokens, k];
      if (typeof v === 'string' && FREE_TEXT.has(k) && !/^\s|\s$/.test(v)) leaves.push({ tokens: here, value: v, parent: node });
      if (Array.isArray(v)) {
        if (!hasOwn(node, `_${k}`)) arrays.push({ tokens: here, value: v, parent: node });
        v.forEach((x, i) => isObj(x) && (objects.push({ tokens: [...here, i], value: x, parent: v }), walk(x, [...here, i])));
      } else if (isObj(v)) {
        objects.push({ tokens: here, value: v, parent: node });
        walk(v, here);
      }
    }
  };
  walk(doc, []);
  return { leaves, arrays, objects };
}

/** The same JSON with every object's members in reverse order (equal per RFC 6902 §4.6). */
const reordered = (v: any): any =>
  Array.isArray(v) ? v.map(reordered) : isObj(v) ? Object.fromEntries(Object.keys(v).reverse().map((k) => [k, reordered(v[k])])) : v;

/**
 * A seeded patch of 3-7 operations made from the resource's own content, each chosen on the state the
 * previous ones left (so every op applies), ending with a `test` that holds; and the oracle's result.
 */
export function generatePatch(resource: any, rnd: () => number, tag: string): { ops: Op[]; expected: any } {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const ops: Op[] = [];
  let doc = clone(resource);
  const push = (...more: Op[]) => {
    doc = applyJsonPatch(doc, more);
    ops.push(...more);
  };
  const kinds = ['replaceLeaf', 'addItem', 'removeItem', 'moveItem', 'copyItem', 'copyLeaf', 'moveLeaf', 'testHolds', 'escapes'];
  const n = 3 + Math.floor(rnd() * 5);
  for (let k = 0; k < n; k++) {
    const { leaves, arrays, objects } = places(doc);
    const kind = k === 0 ? 'replaceLeaf' : pick(kinds);
    const long = arrays.filter((a) => a.value.length >= 2);
    if (kind === 'replaceLeaf' && leaves.length) {
      const l = pick(leaves);
      push({ op: 'replace', path: pointer(l.tokens), value: `${l.value} [${tag}-${k} ~/]` });
    } else if (kind === 'addItem' && arrays.length) {
      const a = pick(arrays);
      const at = rnd() < 0.5 ? '-' : Math.floor(rnd() * (a.value.length + 1));
      push({ op: 'add', path: pointer([...a.tokens, at]), value: clone(pick(a.value)) });
    } else if (kind === 'removeItem' && long.length) {
      const a = pick(long);
      push({ op: 'remove', path: pointer([...a.tokens, Math.floor(rnd() * a.value.length)]) });
    } else if (kind === 'moveItem' && long.length) {
      const a = pick(long);
      const from = Math.floor(rnd() * a.value.length);
      push({ op: 'move', from: pointer([...a.tokens, from]), path: pointer([...a.tokens, (from + 1) % a.value.length]) });
    } else if (kind === 'copyItem' && arrays.length) {
      const a = pick(arrays);
      const at = rnd() < 0.3 ? '-' : Math.floor(rnd() * (a.value.length + 1));
      push({ op: 'copy', from: pointer([...a.tokens, Math.floor(rnd() * a.value.length)]), path: pointer([...a.tokens, at]) });
    } else if (kind === 'copyLeaf' && leaves.length >= 2) {
      const [a, b] = [pick(leaves), pick(leaves)];
      if (a !== b) push({ op: 'copy', from: pointer(a.tokens), path: pointer(b.tokens) }); // add onto an existing member replaces it
    } else if (kind === 'moveLeaf' && leaves.length >= 2) {
      // onto another free-text leaf (replacing it), from a parent that keeps other members (no empty object)
      // and never an extension's value (ext-1: an extension has a value[x] or nested extensions)
      const from = leaves.filter((l) => Object.keys(l.parent).length > 1 && !String(l.tokens[l.tokens.length - 1]).startsWith('value'));
      const a = from.length ? pick(from) : undefined;
      const b = pick(leaves);
      if (a && a !== b && a.parent !== b.parent) push({ op: 'move', from: pointer(a.tokens), path: pointer(b.tokens) });
    } else if (kind === 'testHolds' && objects.length) {
      const o = pick(objects);
      push({ op: 'test', path: pointer(o.tokens), value: reordered(o.value) });
    } else if (kind === 'escapes') {
      // RFC 6901 §4: "~1" is "/" and "~0" is "~" inside one token; a transient member, gone again
      const key = `/oracle~1x~0y~01`;
      push({ op: 'add', path: key, value: { n: k } }, { op: 'test', path: key, value: { n: k } }, { op: 'remove', path: key });
    }
  }
  const last = places(doc).leaves.pop();
  if (last) push({ op: 'test', path: pointer(last.tokens), value: last.value });
  else push({ op: 'test', path: '/resourceType', value: doc.resourceType });
  return { ops, expected: doc };
}

/**
 * Patches that cannot apply (RFC 6902 §5: the whole patch fails): a leading good op then the failure, so a
 * server that applies op by op without rolling back is caught too.
 */
export function failingPatch(resource: any, variant: number, tag: string): { ops: Op[]; why: string } | undefined {
  const { leaves, arrays, objects } = places(resource);
  const lead: Op[] = leaves.length ? [{ op: 'replace', path: pointer(leaves[0].tokens), value: `lost ${tag}` }] : [{ op: 'add', path: '/implicitRules', value: `urn:lost:${tag}` }];
  const arr = arrays[0];
  switch (variant % 6) {
    case 0: // §4.6 test: a string that differs
      return leaves.length ? { ops: [...lead, { op: 'test', path: pointer(leaves[0].tokens), value: `${leaves[0].value}x` }], why: 'test: string differs' } : undefined;
    case 1: // §4.6: an object missing one member is not equal (no "contains")
      for (const o of objects) {
        const keys = Object.keys(o.value);
        if (keys.length >= 2) return { ops: [...lead, { op: 'test', path: pointer(o.tokens), value: Object.fromEntries(keys.slice(1).map((k) => [k, o.value[k]])) }], why: 'test: subset object' };
      }
      return undefined;
    case 2: // RFC 6901 §4: "k~10" is the member "k/0", which does not exist (not item 0 of k)
      return arr ? { ops: [...lead, { op: 'test', path: `/${arr.tokens.join('/')}~10`, value: arr.value[0] }], why: 'test: escaped "/" is not a separator' } : undefined;
    case 3: // §4.2 remove: the target location MUST exist (index == length)
      return arr ? { ops: [...lead, { op: 'remove', path: pointer([...arr.tokens, arr.value.length]) }], why: 'remove past the end' } : undefined;
    case 4: // §4.1 add: an index greater than the array's length is an error
      return arr ? { ops: [...lead, { op: 'add', path: pointer([...arr.tokens, arr.value.length + 1]), value: arr.value[0] }], why: 'add past the end' } : undefined;
    default: // §4.6 test: the target location must exist (a missing member fails, it is not "undefined equals")
      return { ops: [...lead, { op: 'test', path: '/oracleMissing', value: 1 }], why: 'test: missing member' };
  }
}

/** The resource without the server's meta.versionId / meta.lastUpdated. */
export function normalize(r: any): any {
  const c = clone(r);
  if (c?.meta) {
    delete c.meta.versionId;
    delete c.meta.lastUpdated;
    if (!Object.keys(c.meta).length) delete c.meta;
  }
  return c;
}

/** Required elements (min 1 in R4) per type: removing one makes the result invalid. */
export const REQUIRED: Record<string, string> = {
  Observation: 'status', Encounter: 'status', Procedure: 'status', MedicationRequest: 'intent', CarePlan: 'intent', ServiceRequest: 'intent',
  Condition: 'subject', AllergyIntolerance: 'patient', Immunization: 'vaccineCode', MedicationDispense: 'status', Task: 'status',
  Claim: 'patient', Consent: 'scope', NutritionOrder: 'intent', List: 'mode', Library: 'status', PlanDefinition: 'status',
};

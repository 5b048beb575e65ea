import * as fs from 'fs';
import * as path from 'path';

/**
 * Helpers for conditional-oracle.e2e-spec.ts: the R4 spec examples (read in place, never copied),
 * search-value escaping (search.html#escaping) and a model of which resources carry which identifier.
 */
export const R4_EXAMPLES = path.resolve(__dirname, '../../../../shared/fixtures/r4-examples');

/** Left out by the brief: AuditEvent (immutable trail), Binary (raw content), Bundle, Subscription (side effects). */
const LEFT_OUT = new Set(['AuditEvent', 'Binary', 'Bundle', 'Subscription']);

export interface Example {
  file: string;
  type: string;
  resource: any;
  /** position of the chosen identifier in `identifier` (-1: `identifier` is a single element, 0..1) */
  at: number;
  system: string;
  value: string;
  /** identifier.type.coding[0], when it has system and code (for `identifier:of-type`) */
  ofType?: { system: string; code: string };
}

/** Every example whose `identifier` (list or single) has an element with both system and value; the first such is used. */
export function loadExamples(dir = R4_EXAMPLES): Example[] {
  const out: Example[] = [];
  for (const file of fs.readdirSync(dir).sort()) {
    if (!file.endsWith('.json') || file === 'MANIFEST.json') continue;
    const resource = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    if (typeof resource?.resourceType !== 'string' || LEFT_OUT.has(resource.resourceType)) continue;
    const list: any[] = Array.isArray(resource.identifier) ? resource.identifier : resource.identifier ? [resource.identifier] : [];
    const at = list.findIndex((i) => typeof i?.system === 'string' && i.system && typeof i?.value === 'string' && i.value);
    if (at < 0) continue;
    const ident = list[at];
    const coding = ident.type?.coding?.[0];
    out.push({
      file,
      type: resource.resourceType,
      resource,
      at: Array.isArray(resource.identifier) ? at : -1,
      system: ident.system,
      value: ident.value,
      ofType: coding?.system && coding?.code ? { system: coding.system, code: coding.code } : undefined,
    });
  }
  return out;
}

/** A copy of the example whose chosen identifier has `value`; `id` set to `id` (false: removed, null: kept as in the file). */
export function withValue(ex: Example, value: string, id: string | false | null = null): any {
  const r = structuredClone(ex.resource);
  if (ex.at < 0) r.identifier.value = value;
  else r.identifier[ex.at].value = value;
  if (id === false) delete r.id;
  else if (id !== null) r.id = id;
  return r;
}

/** search.html#escaping: `\` before `\`, `|`, `,` and `$` inside a parameter value. */
export const esc = (s: string) => s.replace(/[\\|,$]/g, (c) => `\\${c}`);

/** `identifier=<system>|<value>`, escaped then percent-encoded, as a query string (URL, If-None-Exist, Bundle urls). */
export const tokenQuery = (system: string | undefined, value: string, param = 'identifier') =>
  `${param}=${encodeURIComponent(system === undefined ? esc(value) : `${esc(system)}|${esc(value)}`)}`;

/** `identifier:of-type=<type system>|<type code>|<value>` (search.html#token, R4 :of-type). */
export const ofTypeQuery = (t: { system: string; code: string }, value: string) =>
  `identifier:of-type=${encodeURIComponent(`${esc(t.system)}|${esc(t.code)}|${esc(value)}`)}`;

/**
 * Characters put between the run prefix and the example's own value, in turn: search.html's reserved
 * `|` `,` `$` `\`, characters URLs and query strings reserve, non-ASCII. The R4 examples' own values
 * hold `:` `/` spaces `(` `)` `{` `}` but none of `|` `,` `$` `\`, so these make the escaping matter.
 */
export const MARKS = ['', '|', ',', '$', '\\', ' ', '&+', '%', '#?=', 'é€', '\\|,$', '😀'];

interface Row {
  type: string;
  id: string;
  system: string;
  value: string;
  ofType?: { system: string; code: string };
  version: number;
}

/** What the server should hold, by the test's own bookkeeping: the live resources carrying each test identifier. */
export class Model {
  private rows = new Map<string, Row>();
  add(type: string, id: string, ex: Example, value: string): void {
    this.rows.set(`${type}/${id}`, { type, id, system: ex.system, value, ofType: ex.ofType, version: 1 });
  }
  bump(type: string, id: string): number {
    const r = this.rows.get(`${type}/${id}`)!;
    return ++r.version;
  }
  remove(type: string, id: string): void {
    this.rows.delete(`${type}/${id}`);
  }
  version(type: string, id: string): number | undefined {
    return this.rows.get(`${type}/${id}`)?.version;
  }
  /** ids of live resources of `type` whose identifier has `value` (and `system`, unless undefined), sorted */
  match(type: string, system: string | undefined, value: string, ofType?: { system: string; code: string }): string[] {
    return [...this.rows.values()]
      .filter((r) => r.type === type && r.value === value && (system === undefined || r.system === system))
      .filter((r) => !ofType || (r.ofType?.system === ofType.system && r.ofType?.code === ofType.code))
      .map((r) => r.id)
      .sort();
  }
}

/** Runs `fn` over `items`, at most `n` at a time. */
export async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

/** n items spread evenly over `items` (all of them when there are fewer). */
export const spread = <T>(items: T[], n: number): T[] =>
  items.length <= n ? items : Array.from({ length: n }, (_, k) => items[Math.floor((k * items.length) / n)]);

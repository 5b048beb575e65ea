import type { Resource } from 'fhir/r4';
import { badRequest, preconditionFailed } from '../errors';
import type { Match } from '../search/search.service';
import type { EntryRequest, Params } from './bundle.types';
import { conditionParams, parseConditionalReference } from './conditions';
import { collectReferences, isPlaceholder, ReferenceSite, rewriteReferences } from './references';

/** A resource an entry of a write run writes, or a reference resolves to. */
export interface Target {
  resourceType: string;
  id: string;
}

export const key = (t: Target) => `${t.resourceType}/${t.id}`;

/** What resolving references reads of an entry's step (write-run.ts `Step`), once its target is known. */
export interface ReferringStep {
  entry: EntryRequest;
  kind: string;
  targets: Target[];
  /** the content it writes (absent: a delete, a no-op, or a step that failed) */
  resource?: Resource;
}

/** What resolving references needs of the write run. */
export interface ReferenceRun<S extends ReferringStep> {
  /** transaction: entries reference each other through their fullUrl (urn:uuid:, urn:oid:, absolute URLs) */
  linkEntries: boolean;
  /** what the run deletes (`Type/id`): a conditional reference does not resolve to it */
  deleted: ReadonlySet<string>;
  /** the first `limit` matches of a conditional reference's search, as the caller may see them */
  find(s: S, type: string, params: Params, limit: number): Promise<Match[]>;
  /** runs fn for the step; a FhirError is named after the entry */
  step<T>(s: S, fn: () => T): T;
}

/**
 * fullUrl placeholders → assigned ids; conditional references → their one match (http.html
 * §3.1.0.11.2). Rewrites the references in each step's resource. Inside a transaction (`inTx`) the
 * lookups run one after another on its connection; outside one they are independent reads.
 */
export async function resolveReferences<S extends ReferringStep>(steps: S[], run: ReferenceRun<S>, inTx: boolean): Promise<void> {
  const links = new Map<string, string>();
  if (run.linkEntries) {
    for (const s of steps) {
      const url = s.entry.fullUrl;
      if (!url || s.kind === 'delete' || !s.targets[0]) continue;
      const to = key(s.targets[0]);
      if (links.has(url)) run.step(s, () => { throw badRequest(`fullUrl ${url} appears in more than one entry`); });
      links.set(url, to);
      const rel = /^https?:\/\/.*\/([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(url);
      if (rel && rel[1] !== to && !links.has(rel[1])) links.set(rel[1], to);
    }
  }
  const conditional = new Map<string, S>();
  const referring: ReferenceSite[][] = [];
  for (const s of steps) {
    if (!s.resource) continue;
    const sites = collectReferences(s.resource);
    referring.push(sites);
    for (const site of sites) {
      const ref = site.value;
      if (site.kind !== 'reference' || links.has(ref)) continue;
      if (isPlaceholder(ref)) {
        run.step(s, () => { throw badRequest(`reference ${ref} is not the fullUrl of any entry of this Bundle`); });
      }
      if (!conditional.has(ref) && parseConditionalReference(ref)) conditional.set(ref, s);
    }
  }
  const resolve = async ([ref, s]: [string, S]) => {
    const c = parseConditionalReference(ref)!;
    const found = await run.find(s, c.resourceType, conditionParams(c.params), 2);
    const m = found.filter((x) => !run.deleted.has(key(x)));
    if (m.length !== 1) {
      run.step(s, () => {
        throw preconditionFailed(`conditional reference ${ref} matches ${m.length ? 'more than one resource' : 'no resource'}; it must match exactly one`);
      });
    }
    links.set(ref, key(m[0]));
  };
  if (inTx) for (const c of conditional) await resolve(c);
  else await Promise.all([...conditional].map(resolve));
  for (const sites of referring) if (sites.length) rewriteReferences(sites, (ref) => links.get(ref));
}

import type { TestApp } from '../../helpers/test-app';

/** Creates a resource through the API and returns its id. */
export async function create(t: TestApp, resource: Record<string, unknown>): Promise<string> {
  const res = await t.http.post(`/fhir/${resource.resourceType}`).set('Content-Type', 'application/fhir+json').send(resource);
  if (res.status !== 201) throw new Error(`create failed ${res.status}: ${JSON.stringify(res.body).slice(0, 400)}`);
  return res.body.id;
}

/** Runs a search (path relative to /fhir) and returns the Bundle; fails on a non-200. */
export async function search(t: TestApp, path: string, headers: Record<string, string> = {}): Promise<any> {
  const req = t.http.get(`/fhir/${path}`);
  for (const [k, v] of Object.entries(headers)) req.set(k, v);
  const res = await req;
  if (res.status !== 200) throw new Error(`search ${path} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 400)}`);
  return res.body;
}

/** Sorted ids of the `match` entries. */
export async function ids(t: TestApp, path: string): Promise<string[]> {
  const b = await search(t, path);
  return matchIds(b).sort();
}

export function matchIds(bundle: any): string[] {
  return (bundle.entry ?? []).filter((e: any) => e.search?.mode === 'match').map((e: any) => e.resource.id);
}

/** Follows `next` links to the end; returns every match id in page order. */
export async function allPages(t: TestApp, path: string, between?: (page: number) => Promise<void>): Promise<string[]> {
  const out: string[] = [];
  let url: string | undefined = `/fhir/${path}`;
  for (let page = 0; url && page < 1000; page++) {
    const res = await t.http.get(url);
    if (res.status !== 200) throw new Error(`page ${page} answered ${res.status}`);
    out.push(...matchIds(res.body));
    const next = res.body.link?.find((l: any) => l.relation === 'next');
    url = next ? next.url.replace(t.baseUrl, '/fhir') : undefined;
    if (between) await between(page);
  }
  return out;
}

export const sorted = (a: string[]) => [...a].sort();

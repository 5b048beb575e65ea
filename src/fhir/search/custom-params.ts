import * as fs from 'fs';
import * as path from 'path';
import type { SearchParameter } from 'fhir/r4';
import type { Queryable } from '../../database/database';
import { logger } from '../../logger';
import type { SearchParameterInfo, SearchParameterRegistry } from './search-params';

const TYPES = new Set(['number', 'date', 'string', 'token', 'reference', 'composite', 'quantity', 'uri', 'special']);

/** `_id`, `_lastUpdated`…: the server answers these itself, for every type (US Core's us-core-*-id redefine `_id`, derivedFrom Resource-id). */
export const COMMON_CODE = 'a code of the parameters common to all resources (search.html#all), which the server answers itself';

/** A SearchParameter resource as the registry holds it; undefined (logged) when unusable. */
export function toParamInfo(sp: SearchParameter, registry: SearchParameterRegistry, origin: string): SearchParameterInfo | undefined {
  const problem =
    !sp.url ? 'no url' : sp.code?.startsWith('_') ? COMMON_CODE : !sp.code || !/^[A-Za-z][A-Za-z0-9_-]*$/.test(sp.code) ? 'no valid code' : !TYPES.has(sp.type) ? 'unknown type'
      : !sp.base?.length || !sp.base.every((b) => b === 'Resource' || b === 'DomainResource' || registry.isResourceType(b)) ? 'unknown base type'
        : sp.type !== 'special' && !sp.expression ? 'no expression'
          : sp.status === 'retired' ? 'retired' : undefined;
  if (problem) {
    logger.warn({ url: sp.url, code: sp.code, origin, problem }, 'custom SearchParameter ignored');
    return undefined;
  }
  return {
    url: sp.url,
    code: sp.code,
    base: sp.base,
    type: sp.type,
    expression: sp.expression,
    target: sp.target,
    component: sp.component?.map((c) => ({ definition: c.definition, expression: c.expression })),
    modifier: sp.modifier,
    chain: sp.chain,
    comparator: sp.comparator,
    multipleOr: sp.multipleOr,
    multipleAnd: sp.multipleAnd,
  };
}

/** SearchParameter resources in JSON files under `dir` (alone or in Bundles), recursively. */
export function fileSearchParameters(dir: string): SearchParameter[] {
  if (!fs.existsSync(dir)) return [];
  const out: SearchParameter[] = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.json')) {
        try {
          const json = JSON.parse(fs.readFileSync(p, 'utf8'));
          if (json.resourceType === 'SearchParameter') out.push(json);
          if (json.resourceType === 'Bundle') for (const e of json.entry ?? []) if (e.resource?.resourceType === 'SearchParameter') out.push(e.resource);
        } catch {
          /* not JSON: the profile loader reports such files */
        }
      }
    }
  };
  walk(dir);
  return out;
}

/** SearchParameter resources stored through the API (current versions), other than the official ones. */
export async function storedSearchParameters(q: Queryable, registry: SearchParameterRegistry): Promise<SearchParameter[]> {
  const r = await q.query<{ content: string }>(`SELECT content FROM resource WHERE resource_type = 'SearchParameter' AND NOT deleted`);
  const official = new Set(registry.definitions.searchParameters.map((p) => p.url));
  return r.rows.map((x) => JSON.parse(x.content) as SearchParameter).filter((sp) => !official.has(sp.url));
}

/**
 * The custom parameters in force are kept in the database (search_parameter_state),
 * so every server process agrees on them; a reindex replaces them.
 */
export class CustomParameterState {
  constructor(private readonly db: Queryable) {}

  async read(): Promise<{ version: number; params: SearchParameterInfo[] }> {
    const r = await this.db.query<{ version: number; params: SearchParameterInfo[] }>(`SELECT version, params FROM search_parameter_state WHERE id = 1`);
    return r.rows[0] ?? { version: 0, params: [] };
  }

  async write(params: SearchParameterInfo[]): Promise<number> {
    const r = await this.db.query<{ version: number }>(
      `INSERT INTO search_parameter_state (id, version, params, updated) VALUES (1, 1, $1::jsonb, now())
       ON CONFLICT (id) DO UPDATE SET version = search_parameter_state.version + 1, params = EXCLUDED.params, updated = now()
       RETURNING version`,
      [JSON.stringify(params)],
    );
    return r.rows[0].version;
  }
}

/** Gathers the custom parameters (files, then stored resources: a stored one wins on the same url). */
export async function gatherCustomParameters(q: Queryable, registry: SearchParameterRegistry, profilesDir: string): Promise<SearchParameterInfo[]> {
  const byUrl = new Map<string, SearchParameterInfo>();
  for (const sp of fileSearchParameters(profilesDir)) {
    const info = toParamInfo(sp, registry, 'fhir-profiles');
    if (info) byUrl.set(info.url, info);
  }
  for (const sp of await storedSearchParameters(q, registry)) {
    const info = toParamInfo(sp, registry, 'stored');
    if (info) byUrl.set(info.url, info);
  }
  return [...byUrl.values()].sort((a, b) => a.url.localeCompare(b.url));
}

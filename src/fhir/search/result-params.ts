import { badRequest } from '../errors';
import { decodeCursor } from './paging';
import { parseElements, parseSummary } from './result-shaping';
import type { IncludeSpec, SearchQuery } from './search-query';
import { assertSearchable, SearchParameterRegistry } from './search-params';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

/** Result parameters (search.html §3.1.1.5 ff.) and the server's own paging cursor. */
export const RESULT_PARAMS = new Set([
  '_count',
  '_sort',
  '_include',
  '_revinclude',
  '_total',
  '_summary',
  '_elements',
  '_contained',
  '_containedType',
  '_format',
  '_pretty',
  '_type',
  '_cursor',
]);

const SORTABLE = new Set(['string', 'token', 'date', 'number', 'quantity', 'reference', 'uri']);

/** Applies one result parameter to the query (400 on an invalid value). */
export function parseResultParam(registry: SearchParameterRegistry, q: SearchQuery, name: string, value: string): void {
  const [base, ...mods] = name.split(':');
  switch (base) {
    case '_count': {
      if (!/^\d+$/.test(value)) throw badRequest('_count must be a non-negative integer');
      q.count = Math.min(Number(value), MAX_COUNT);
      return;
    }
    case '_sort':
      for (const part of value.split(',').filter(Boolean)) {
        const descending = part.startsWith('-');
        const code = descending ? part.slice(1) : part;
        if (code === '_id' || code === '_lastUpdated') {
          q.sort.push({ code, descending, type: code });
          continue;
        }
        const types = new Set(q.types.map((t) => registry.param(t, code)?.type));
        const type = [...types][0];
        if (types.size !== 1 || !type || !SORTABLE.has(type)) throw badRequest(`cannot sort by "${code}"`);
        q.sort.push({ code, descending, type });
      }
      return;
    case '_include':
    case '_revinclude': {
      const iterate = mods.includes('iterate') || mods.includes('recurse');
      if (mods.some((m) => m !== 'iterate' && m !== 'recurse')) throw badRequest(`unknown modifier on ${name}`);
      const spec = includeSpec(registry, value, iterate, base === '_revinclude');
      (spec.reverse ? q.revinclude : q.include).push(spec);
      return;
    }
    case '_total':
      if (value !== 'none' && value !== 'estimate' && value !== 'accurate') throw badRequest('_total must be none, estimate or accurate');
      q.total = value;
      return;
    case '_summary':
      q.summary = parseSummary(value, true);
      return;
    case '_elements':
      q.elements = parseElements(value);
      return;
    case '_contained':
      if (value !== 'true' && value !== 'false' && value !== 'both') throw badRequest('_contained must be true, false or both');
      q.contained = value;
      return;
    case '_containedType':
      if (value !== 'container' && value !== 'contained') throw badRequest('_containedType must be container or contained');
      q.containedType = value;
      return;
    case '_cursor':
      q.cursor = decodeCursor(value);
      return;
    default:
      return; // _format, _pretty (rendering), _type (decided by the caller)
  }
}

/** `Type:param[:targetType]` or `*` / `Type:*` (search.html §3.1.1.5.7). */
function includeSpec(registry: SearchParameterRegistry, value: string, iterate: boolean, reverse: boolean): IncludeSpec {
  const [sourceType, code, targetType, ...rest] = value.split(':');
  if (rest.length || !sourceType) throw badRequest(`invalid include "${value}"`);
  if (sourceType === '*') return { sourceType: '*', params: ['*'], iterate, reverse };
  assertSearchable(sourceType, `include "${value}"`);
  if (targetType) assertSearchable(targetType, `include "${value}"`);
  if (!registry.isResourceType(sourceType)) throw badRequest(`unknown resource type "${sourceType}" in include "${value}"`);
  const refParams = [...registry.paramsOf(sourceType).values()].filter((p) => p.type === 'reference').map((p) => p.code);
  if (!code || code === '*') return { sourceType, params: refParams, iterate, reverse };
  if (!refParams.includes(code)) throw badRequest(`"${code}" is not a reference parameter of ${sourceType}`);
  if (targetType !== undefined) {
    const sp = registry.param(sourceType, code)!;
    if (!registry.targetsOf(sp).includes(targetType)) throw badRequest(`${sourceType}:${code} cannot refer to ${targetType}`);
  }
  return { sourceType, params: [code], targetType, iterate, reverse };
}

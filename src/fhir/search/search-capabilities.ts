import type { CapabilityStatement, CapabilityStatementRestResourceSearchParam } from 'fhir/r4';
import { compositeOf } from './composite';
import { kindOf, UNSUPPORTED_PARAMS, SearchParameterRegistry } from './search-params';

/** Parameters for every type, answered by the server itself (search.html#all, #has). */
const COMMON = [
  { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/Resource-id' },
  { name: '_lastUpdated', type: 'date', definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated' },
  { name: '_tag', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/Resource-tag' },
  { name: '_profile', type: 'uri', definition: 'http://hl7.org/fhir/SearchParameter/Resource-profile' },
  { name: '_security', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/Resource-security' },
  { name: '_source', type: 'uri', definition: 'http://hl7.org/fhir/SearchParameter/Resource-source' },
  { name: '_text', type: 'string', definition: 'http://hl7.org/fhir/SearchParameter/DomainResource-text' },
  { name: '_content', type: 'string', definition: 'http://hl7.org/fhir/SearchParameter/Resource-content' },
  { name: '_list', type: 'special', documentation: 'resources referenced by the List with this id (List.entry.item)' },
  { name: '_has', type: 'special', documentation: 'reverse chaining: _has:Type:reference:parameter=value' },
  { name: '_filter', type: 'special', documentation: 'search_filter.html: tests path op value over these parameters, with and / or / not' },
] as const;

/**
 * The search part of /metadata, from the registry (official and custom
 * parameters): every parameter per type with its type and definition URL,
 * searchInclude (`Type:param` per reference parameter, and `*`) and
 * searchRevInclude (the reference parameters of every type that can point here).
 */
export function contributeSearch(cs: CapabilityStatement, registry: SearchParameterRegistry): void {
  const revIncludes = new Map<string, string[]>();
  for (const type of registry.resourceTypes) {
    for (const sp of registry.paramsOf(type).values()) {
      if (sp.type !== 'reference') continue;
      for (const target of registry.targetsOf(sp)) {
        if (!revIncludes.has(target)) revIncludes.set(target, []);
        revIncludes.get(target)!.push(`${type}:${sp.code}`);
      }
    }
  }
  for (const rest of cs.rest ?? []) {
    for (const r of rest.resource ?? []) {
      const params: CapabilityStatementRestResourceSearchParam[] = [];
      const includes: string[] = [];
      for (const sp of registry.paramsOf(r.type).values()) {
        if (UNSUPPORTED_PARAMS.has(sp.code) || (sp.type === 'special' && !kindOf(sp.type, sp.url)) || COMMON.some((c) => c.name === sp.code)) continue;
        if (sp.type === 'composite' && !compositeOf(registry, sp)) continue;
        params.push({ name: sp.code, definition: sp.url, type: sp.type as CapabilityStatementRestResourceSearchParam['type'] });
        if (sp.type === 'reference') includes.push(`${r.type}:${sp.code}`);
      }
      r.searchParam = [...COMMON.map((c) => ({ ...c }) as CapabilityStatementRestResourceSearchParam), ...params];
      r.searchInclude = ['*', ...includes];
      r.searchRevInclude = [...new Set(revIncludes.get(r.type) ?? [])];
    }
    rest.searchParam = COMMON.map((c) => ({ ...c }) as CapabilityStatementRestResourceSearchParam);
    const codes = new Set((rest.interaction ?? []).map((i) => i.code));
    if (!codes.has('search-system')) (rest.interaction ??= []).push({ code: 'search-system' });
  }
}

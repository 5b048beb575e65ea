import type { Resource } from 'fhir/r4';
import type { IndexRows, IndexTable, ResourceIndexer } from '../storage/storage.types';
import { ExpressionCompiler, Extractor, PathValue, splitUnion } from './expression';
import { containedId } from './contained';
import { CONTAINED_TABLE, INDEX_TABLE, INDEX_TABLES, indexRow, IndexRowFields, KIND, ownerDateRows, withLookupKeys } from './index-tables';
import {
  dateEntries,
  identifierTypeEntries,
  localTarget,
  numberEntries,
  referenceEntries,
  referenceIdentifier,
  stringEntries,
  tokenEntries,
  unversioned,
  versionedOwnUrl,
} from './index-values';
import { contentLexemes, narrativeLexemes } from './full-text';
import { positionEntries } from './position';
import { tsvectorLiteral } from './normalize';
import { IndexKind, kindOf, RESOURCE_COLUMN_PARAMS, SearchParameterInfo, SearchParameterRegistry } from './search-params';
import { canonicalEntry, UCUM, UCUM_SUFFIX } from './ucum';
import { compositeOf, CompositeLayout, componentExpression, compositeParam, foldedKeys, tokenKeys } from './composite';

interface ParamPlan {
  code: string;
  type: string;
  kind: IndexKind;
  extract: Extractor;
}

interface CompositePlan {
  code: string;
  layout: CompositeLayout;
  /** the components' parameter types */
  types: string[];
  /** per base path: the nodes, and each component's extractor (relative to a node; `%resource.…` from the resource) */
  parts: { nodes: Extractor; components: { extract: Extractor; fromRoot: boolean }[] }[];
}

interface TypePlan {
  params: ParamPlan[];
  composites: CompositePlan[];
}

/**
 * Collects the rows of one resource, dropping duplicates (one param, same value): compared with
 * the rows of the same param, column by column, while a param has a few rows (joining every row
 * into a text key cost more); past SMALL rows (a CodeSystem's thousands of codes) by text key, so
 * that a big resource stays linear.
 */
class RowSink {
  readonly rows: unknown[][] = [];
  private readonly byParam = new Map<unknown, unknown[][] | Set<string>>();

  /** `contained`: the contained resources a `#id` reference of the resource may name */
  constructor(readonly contained?: unknown) {}

  add(row: unknown[]): void {
    const param = row[0];
    const same = this.byParam.get(param);
    if (!same) this.byParam.set(param, [row]);
    else if (same instanceof Set) {
      const key = rowText(row);
      if (same.has(key)) return;
      same.add(key);
    } else if (same.some((r) => sameRow(r, row))) return;
    else if (same.length < SMALL) same.push(row);
    else this.byParam.set(param, new Set([...same, row].map(rowText)));
    this.rows.push(row);
  }
}

const SMALL = 16;

/** A row as one text: values apart by a separator no value holds, null apart from '' (join would merge them). */
export function rowText(row: unknown[]): string {
  let text = '';
  for (const v of row) text += `${v === null || v === undefined ? '\uffff' : String(v)}\u0000`;
  return text;
}

function sameRow(a: unknown[], b: unknown[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Extracts search index rows from resources with the SearchParameter
 * expressions of the official definitions (plus custom SearchParameters):
 * compiled once per resource type, direct accessors where the expression is a
 * plain path, FHIRPath otherwise, plus the narrative and content for `_text`
 * and `_content`. Parameters with no values produce no rows; aliases (unions
 * of other parameters, see param-aliases.ts) none either. Patient compartment
 * membership is answered from the reference rows of the compartment's
 * parameters.
 */
export class SearchIndexer implements ResourceIndexer {
  readonly tables: IndexTable[] = INDEX_TABLES;
  private readonly compiler: ExpressionCompiler;
  private readonly plans = new Map<string, TypePlan>();

  constructor(
    readonly registry: SearchParameterRegistry,
    private readonly baseUrl: string,
  ) {
    this.compiler = new ExpressionCompiler(registry.definitions);
    registry.onChange(() => this.plans.clear());
  }

  extract(resource: Resource): IndexRows {
    const plan = this.planFor(resource.resourceType);
    if (!plan) return new Map();
    const sink = this.valueRows(plan, resource);
    const narrativeWords = narrativeLexemes(resource);
    const narrative = tsvectorLiteral(narrativeWords);
    const content = tsvectorLiteral(contentLexemes(resource, narrativeWords));
    if (narrative || content) sink.add(indexRow({ param: '_content', kind: KIND.text, narrative, content }));
    // (distinct already: built from distinct date and reference rows)
    sink.rows.push(...ownerDateRows(sink.rows));
    for (const row of sink.rows) withLookupKeys(resource.resourceType, row);
    const rows = new Map([[INDEX_TABLE, sink.rows]]);
    const contained = (resource as { contained?: unknown }).contained;
    if (Array.isArray(contained) && contained.length) rows.set(CONTAINED_TABLE, this.containedRows(resource, contained));
    return rows;
  }

  private valueRows(plan: TypePlan, resource: Resource, container: Resource = resource): RowSink {
    const sink = new RowSink((container as { contained?: unknown }).contained);
    for (const p of plan.params) {
      const values = p.extract(resource);
      for (const pv of values) {
        this.addValue(sink, p, pv);
        const own = p.type === 'uri' ? versionedOwnUrl(resource, pv) : undefined;
        if (own) this.addValue(sink, p, own);
      }
    }
    for (const c of plan.composites) this.addComposite(sink, c, resource);
    return sink;
  }

  /**
   * Rows of the contained resources (search.html#contained), each under its
   * own type and identity `ContainerType/containerId#id`, with an `_id` row
   * so that every one can be listed; no narrative or content rows (those are
   * the container's). Contained resources without a valid id are not indexed.
   */
  private containedRows(container: Resource, contained: unknown[]): unknown[][] {
    const out: unknown[][] = [];
    for (const r of contained as Resource[]) {
      const id = containedId(container.resourceType, container.id, r?.id);
      const plan = id && typeof r.resourceType === 'string' ? this.planFor(r.resourceType) : undefined;
      if (!id || !plan) continue;
      const sink = this.valueRows(plan, r, container);
      sink.add(indexRow({ param: '_id', kind: KIND.token, value: r.id }));
      for (const row of sink.rows) out.push([r.resourceType, id, ...withLookupKeys(r.resourceType, row)]);
    }
    return out;
  }

  /** The plan of a type: its parameters with compiled extractors (exposed for tests). */
  planFor(resourceType: string): TypePlan | undefined {
    let plan = this.plans.get(resourceType);
    if (!plan && this.registry.isResourceType(resourceType)) {
      plan = this.buildPlan(resourceType);
      this.plans.set(resourceType, plan);
    }
    return plan;
  }

  /** The extractor of one parameter of a type (tests compare direct accessors with FHIRPath). */
  extractorOf(resourceType: string, code: string): Extractor | undefined {
    return this.planFor(resourceType)?.params.find((p) => p.code === code)?.extract;
  }

  get expressionCompiler(): ExpressionCompiler {
    return this.compiler;
  }

  /** `extra`: columns added to value rows of string, date and number kinds (composite tuples). */
  private addValue(sink: RowSink, p: ParamPlan, pv: PathValue, extra?: IndexRowFields): void {
    const param = p.code;
    switch (p.kind) {
      case 'token':
        for (const e of tokenEntries(pv)) sink.add(indexRow({ param, kind: KIND.token, system: e.system, value: e.value, text: e.text }));
        if (p.type === 'uri' && unversioned(pv.value)) sink.add(indexRow({ param, kind: KIND.token, system: null, value: unversioned(pv.value), text: null }));
        if (p.type === 'token' && (pv.type === 'Identifier' || (!pv.type && pv.value?.type?.coding))) {
          for (const e of identifierTypeEntries(pv)) sink.add(indexRow({ param: `${param}:of-type`, kind: KIND.token, system: e.system, value: e.value }));
        }
        return;
      case 'string':
        for (const e of stringEntries(pv)) {
          sink.add(indexRow({ param, kind: KIND.string, value: e.value, exact: e.exact, ...extra }));
          // the whole of a long string (string-sql.ts); not for a composite tuple's rows (`text`: its ordinal),
          // whose string components match on their first MAX_INDEXED_STRING characters
          if (e.whole !== null && extra?.text === undefined) sink.add(indexRow({ param, kind: KIND.long, value: e.whole }));
        }
        return;
      case 'date':
        for (const e of dateEntries(pv)) sink.add(indexRow({ param, kind: KIND.date, low: e.low, high: e.high, ...extra }));
        return;
      case 'number':
        for (const e of numberEntries(pv)) {
          sink.add(indexRow({ param, kind: KIND.number, nlow: e.low, nhigh: e.high, system: e.system, value: e.code, ...extra }));
          // a UCUM quantity also in canonical units (ucum.ts), for searches in another unit of the same dimension
          // (`exact`: the unit written, whose searches read the row above, exact, not this one, rounded)
          const c = p.type === 'quantity' ? canonicalEntry(e) : undefined;
          if (c) sink.add(indexRow({ param: param + UCUM_SUFFIX, kind: KIND.number, nlow: c.low, nhigh: c.high, system: UCUM, value: c.unit, exact: e.code, ...extra }));
        }
        return;
      case 'position':
        for (const e of positionEntries(pv)) sink.add(indexRow({ param, kind: KIND.position, nlow: e.latitude, nhigh: e.longitude }));
        return;
      case 'reference': {
        for (const e of referenceEntries(pv, this.baseUrl)) {
          sink.add(indexRow({ param, kind: KIND.reference, value: e.ref, target_type: e.targetType, target_id: e.targetId }));
        }
        for (const e of referenceIdentifier(pv)) sink.add(indexRow({ param: `${param}:identifier`, kind: KIND.token, system: e.system, value: e.value }));
        // for `:missing` (criteria-sql.ts): a `#id` to a contained resource, or a resource itself
        const local = localTarget(pv, sink.contained);
        if (local) sink.add(indexRow({ param: `${param}:local`, kind: KIND.token, value: local.ref, target_type: local.targetType }));
        return;
      }
    }
  }

  /** Composite rows (see composite.ts): per tuple, the row components under the folded param name. */
  private addComposite(sink: RowSink, c: CompositePlan, resource: Resource): void {
    let ordinal = 0;
    for (const part of c.parts) {
      for (const node of part.nodes(resource)) {
        const values = part.components.map((comp) => comp.extract(comp.fromRoot ? resource : node.value));
        const folded = c.layout.folded.map((i) =>
          values[i].flatMap((pv) =>
            c.layout.kinds[i] === 'reference' ? referenceEntries(pv, this.baseUrl).map((e) => e.ref) : tokenKeys(tokenEntries(pv)),
          ),
        );
        if (folded.some((v) => v.length === 0)) continue;
        // a token row component needs a code too: a concept with only a text matches no composite value (`code$value`)
        if (c.layout.rows.some((i) => c.layout.kinds[i] === 'token' && !values[i].some((pv) => tokenEntries(pv).some((e) => e.value !== null)))) continue;
        const tuple = c.layout.rows.length > 1 ? { text: String(ordinal++) } : undefined;
        for (const key of foldedKeys(folded)) {
          for (const i of c.layout.rows) {
            const plan: ParamPlan = { code: compositeParam(c.code, key, c.layout, i), type: c.types[i], kind: c.layout.kinds[i], extract: part.components[i].extract };
            for (const pv of values[i]) this.addValue(sink, plan, pv, tuple);
          }
        }
      }
    }
  }

  private buildPlan(resourceType: string): TypePlan {
    const params: ParamPlan[] = [];
    const composites: CompositePlan[] = [];
    for (const sp of this.registry.paramsOf(resourceType).values()) {
      if (RESOURCE_COLUMN_PARAMS.has(sp.code) || !sp.expression || this.registry.isAlias(resourceType, sp.code)) continue;
      if (sp.type === 'composite') {
        const c = this.compositePlan(resourceType, sp);
        if (c) composites.push(c);
        continue;
      }
      const kind = kindOf(sp.type, sp.url);
      if (!kind) continue;
      const extract = sp.type === 'token' ? this.compiler.compileTokenFor(resourceType, sp.expression) : this.compiler.compileFor(resourceType, sp.expression);
      if (extract) params.push({ code: sp.code, type: sp.type, kind, extract });
    }
    return { params, composites };
  }

  /** The plan of a composite whose components are all of indexed kinds; undefined otherwise. */
  compositePlan(resourceType: string, sp: SearchParameterInfo): CompositePlan | undefined {
    const shape = compositeOf(this.registry, sp);
    if (!shape || !sp.expression) return undefined;
    const parts: CompositePlan['parts'] = [];
    for (const base of splitUnion(sp.expression)) {
      const nodes = this.compiler.compileFor(resourceType, base);
      if (!nodes) continue;
      const ctx = nodes.resultContext;
      if (!ctx) return undefined;
      const components: CompositePlan['parts'][number]['components'] = [];
      for (const [i, comp] of sp.component!.entries()) {
        const expression = componentExpression(base, comp.expression, shape.defs[i]);
        // `%resource.x` (MolecularSequence coordinates): a path from the resource, not from the element
        const fromRoot = expression.startsWith('%resource.');
        const extract = fromRoot ? this.compiler.compileFor(resourceType, `${resourceType}.${expression.slice('%resource.'.length)}`) : this.compiler.compileRelative(expression, ctx);
        if (!extract) return undefined;
        components.push({ extract, fromRoot });
      }
      parts.push({ nodes, components });
    }
    if (parts.length === 0) return undefined;
    return { code: sp.code, layout: shape.layout, types: shape.defs.map((d) => d.type), parts };
  }
}

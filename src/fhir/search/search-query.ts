import type { ImplicitSystem } from './code-systems';
import type { OperationOutcomeIssue } from 'fhir/r4';
import type { DateRange } from '../date-range';
import type { NearValue } from './position';
import type { SearchParameterInfo } from './search-params';

/** search.html §2.1.1.4 comparison prefixes. */
export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

export interface TokenValue {
  /** undefined: any system; null: no system (`|code`) */
  system?: string | null;
  /** undefined: any code (`system|`) */
  code?: string;
}

export interface DateValue {
  /** `po`: `_filter`'s "overlaps" (search_filter.html), set by filter.ts only */
  prefix: Prefix | 'po';
  range: DateRange;
}

export interface NumberValue {
  prefix: Prefix;
  /** the number as given */
  value: number;
  /** implicit precision range [low, high) of the given digits (search.html §2.1.1.3) */
  low: number;
  high: number;
  /** the same range as exact decimal text (`66899999999999985e-15`), for the SQL; absent for converted values */
  bounds?: { low: string; high: string };
  /** the number itself as exact decimal text (`99945844855548263e-15`), for gt/lt/ge/le; absent for converted values */
  exact?: string;
  /** quantity only */
  system?: string;
  code?: string;
  /** the `ap` window when it is not ±10% of `value` (a value converted to canonical units) */
  approx?: { low: number; high: number };
}

/** One parsed value of a parameter; which member is set follows the parameter type. */
export interface ParamValue {
  raw: string;
  string?: string;
  token?: TokenValue;
  date?: DateValue;
  number?: NumberValue;
  /** candidate stored refs (`Patient/1`, or an absolute/canonical URL) */
  refs?: string[];
  /** conditions that must hold for one and the same stored value (ranges on a single-valued parameter) */
  all?: ParamValue[];
  /** token `:above`/`:below`: the codes of the value's system it subsumes or is subsumed by (resolved before the SQL, see subsumption.ts) */
  codes?: string[];
  /** token `:in`/`:not-in`: the ValueSet's members as `system|code` (resolved before the SQL, see value-sets.ts) */
  members?: string[];
  /** token with a system part on `code` elements: what their bindings say of their implicit system, per `type|param` (code-systems.ts) */
  implicit?: Record<string, ImplicitSystem>;
  /** composite: each component's value, parsed as its own parameter type */
  composite?: ParamValue[];
  /** `Location.near`: the point and radius */
  near?: NearValue;
  /** string, from `_filter` (`eq`, `ew`): the whole normalized value, or its end, instead of its start */
  match?: 'equals' | 'suffix';
}

/** A criterion on a standard or custom parameter, for a set of resource types. */
export interface ParamCriterion {
  kind: 'param';
  code: string;
  /** the search parameter type (uniform across the types) */
  type: string;
  /** per resource type of the set: the definition */
  defs: Map<string, SearchParameterInfo>;
  modifier?: string;
  /** OR of values (comma separated) */
  values: ParamValue[];
  /** `:missing` */
  missing?: boolean;
}

export interface ChainCriterion {
  kind: 'chain';
  /** the reference parameter followed */
  code: string;
  targets: string[];
  inner: Criterion;
}

export interface HasCriterion {
  kind: 'has';
  /** the type of the referring resources */
  sourceType: string;
  /** their reference parameter that points at the base resource */
  refCode: string;
  inner: Criterion;
}

export interface ResourceColumnCriterion {
  kind: 'id' | 'lastUpdated';
  ids?: string[];
  dates?: DateValue[];
  not?: boolean;
}

export interface TextCriterion {
  kind: 'text';
  column: 'narrative' | 'content';
  /** OR of tsquery texts */
  queries: string[];
}

/** Membership of the compartment of these focal resources (`_compartment`, compartment search): `Patient/1`, `Encounter/2`. */
export interface CompartmentCriterion {
  kind: 'compartment';
  /** the compartment's type (CompartmentDefinition.code): Patient, Encounter, Practitioner, RelatedPerson, Device */
  compartment: string;
  ids: string[];
}

export interface ListCriterion {
  kind: 'list';
  listIds: string[];
}

/** Alternatives of AND-lists (auth restrictions). */
export interface AnyCriterion {
  kind: 'any';
  alternatives: Criterion[][];
}

/** The resources the inner criterion does not match (`_filter`'s `not`, `ne`). */
export interface NotCriterion {
  kind: 'not';
  inner: Criterion;
}

export interface ConstantCriterion {
  kind: 'const';
  value: boolean;
}

export type Criterion =
  | ParamCriterion
  | ChainCriterion
  | HasCriterion
  | ResourceColumnCriterion
  | TextCriterion
  | ListCriterion
  | CompartmentCriterion
  | AnyCriterion
  | NotCriterion
  | ConstantCriterion;

export interface IncludeSpec {
  sourceType: string;
  /** reference parameter codes (several for `*`) */
  params: string[];
  targetType?: string;
  iterate: boolean;
  reverse: boolean;
}

export interface SortKey {
  /** `_id`, `_lastUpdated` or a parameter code */
  code: string;
  descending: boolean;
  /** parameter type (string, token, date…); `_id`/`_lastUpdated` for the columns */
  type: string;
}

export type Summary = 'true' | 'text' | 'data' | 'count' | 'false';

export interface Cursor {
  /** sort key values of the boundary row, then its resource type and id */
  values: (string | null)[];
  resourceType: string;
  id: string;
  /** 'n': rows after the boundary; 'p': rows before it (previous page) */
  direction: 'n' | 'p';
}

/** A search, parsed and checked against the definitions. */
export interface SearchQuery {
  /** the types searched (several at system level) */
  types: string[];
  /** true at system level without `_type` (every type) */
  allTypes: boolean;
  criteria: Criterion[];
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  sort: SortKey[];
  count: number;
  total: 'none' | 'estimate' | 'accurate' | undefined;
  summary?: Summary;
  elements?: string[];
  /** search.html#contained: `_contained` and `_containedType` */
  contained: 'false' | 'true' | 'both';
  containedType: 'container' | 'contained';
  cursor?: Cursor;
  /** the parameters applied, as given (the `self` link) */
  applied: [string, string][];
  /** parameters ignored under `Prefer: handling=lenient` */
  issues: OperationOutcomeIssue[];
}

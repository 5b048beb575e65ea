import { randomUUID } from 'crypto';
import type { CodeSystem, Coding, OperationDefinition, OperationDefinitionParameter, Parameters, ParametersParameter, ValueSet } from 'fhir/r4';
import { badRequest, FhirError } from '../errors';
import type { FhirOperation, OperationCall } from '../operations/operation-registry';
import type { FhirResponse } from '../rest/fhir-response';
import { StorageService } from '../storage/storage.service';
import type { IndexedConcept } from './concepts';
import { OperationInputs } from '../operations/operation-inputs';
import { CodeValidation, TerminologyService } from './terminology.service';

type TerminologyType = 'ValueSet' | 'CodeSystem';

const param = (name: string, use: 'in' | 'out', type: string, max = '1'): OperationDefinitionParameter => ({ name, use, min: 0, max, type: type as any });

/** The R4 OperationDefinition of `[type]/$code`, with the parameters this server reads. */
const definition = (type: TerminologyType, code: string, name: string, parameter: OperationDefinitionParameter[]): OperationDefinition => ({
  resourceType: 'OperationDefinition',
  id: `${type}-${code}`,
  url: `http://hl7.org/fhir/OperationDefinition/${type}-${code}`,
  name,
  status: 'active',
  kind: 'operation',
  code,
  resource: [type],
  system: false,
  type: true,
  instance: true,
  parameter,
});

const parameters = (parameter: (ParametersParameter | undefined | false)[]): FhirResponse => ({
  status: 200,
  body: { resourceType: 'Parameters', parameter: parameter.filter((p): p is ParametersParameter => !!p) } satisfies Parameters,
});

/** Shared by the terminology operations: the ValueSet or CodeSystem an operation works on. */
abstract class TerminologyOperation<T extends ValueSet | CodeSystem> implements FhirOperation {
  abstract readonly name: string;
  abstract readonly definition: OperationDefinition;
  readonly levels: FhirOperation['levels'] = ['type', 'instance'];
  readonly affectsState = false;
  /** the type the operation is defined on */
  abstract readonly type: T['resourceType'];

  constructor(
    protected readonly terminology: TerminologyService,
    protected readonly storage: StorageService,
  ) {}

  get resourceTypes(): string[] {
    return [this.type];
  }

  abstract invoke(call: OperationCall): Promise<FhirResponse>;

  /**
   * The instance (`[type]/[id]/$op`), else the resource given in the body (`valueSet`), else the one
   * its canonical url names (`url`, with `valueSetVersion`/`version`, or `fallbackUrl`): 404 when none is known.
   */
  protected async target(call: OperationCall, input: OperationInputs, resourceParam?: string, fallbackUrl?: string): Promise<T> {
    if (call.level === 'instance') return JSON.parse((await this.storage.read(this.type, call.id!)).content!) as T;
    const given = resourceParam ? input.resource<T>(resourceParam, this.type) : undefined;
    if (given) return given;
    const url = input.text('url') ?? fallbackUrl;
    if (!url) throw badRequest(`$${this.name} at type level needs ${this.type === 'ValueSet' ? 'url or valueSet' : 'url or system'}`);
    const version = input.text(this.type === 'ValueSet' ? 'valueSetVersion' : 'version');
    const canonical = version ? `${url}|${version}` : url;
    const found = this.type === 'ValueSet' ? await this.terminology.valueSet(canonical) : await this.terminology.codeSystem(canonical);
    if (!found) throw FhirError.of(404, 'not-found', `${this.type} ${canonical} is not known to this server`);
    return found as T;
  }
}

/** `ValueSet/$expand` (R4 valueset-operation-expand.html): the codes, `filter` on code or display, paged by `offset`/`count`. */
export class ExpandOperation extends TerminologyOperation<ValueSet> {
  readonly name = 'expand';
  readonly type = 'ValueSet';
  readonly definition = definition('ValueSet', 'expand', 'ValueSetExpand', [
    param('url', 'in', 'uri'),
    param('valueSet', 'in', 'ValueSet'),
    param('valueSetVersion', 'in', 'string'),
    param('filter', 'in', 'string'),
    param('offset', 'in', 'integer'),
    param('count', 'in', 'integer'),
    param('return', 'out', 'ValueSet'),
  ]);

  async invoke(call: OperationCall): Promise<FhirResponse> {
    const input = new OperationInputs(call);
    const vs = await this.target(call, input, 'valueSet');
    const filter = input.text('filter');
    const offset = input.count('offset') ?? 0;
    const count = input.count('count');
    const all = await this.terminology.expand(vs, filter);
    const used: ParametersParameter[] = [
      ...(filter !== undefined ? [{ name: 'filter', valueString: filter }] : []),
      { name: 'offset', valueInteger: offset },
      ...(count !== undefined ? [{ name: 'count', valueInteger: count }] : []),
    ];
    const body: ValueSet = {
      resourceType: 'ValueSet',
      ...(vs.id ? { id: vs.id } : {}),
      ...(vs.url ? { url: vs.url } : {}),
      ...(vs.version ? { version: vs.version } : {}),
      ...(vs.name ? { name: vs.name } : {}),
      ...(vs.title ? { title: vs.title } : {}),
      status: vs.status ?? 'unknown',
      expansion: {
        identifier: `urn:uuid:${randomUUID()}`,
        timestamp: new Date().toISOString(),
        total: all.length,
        offset,
        parameter: used,
        contains: all.slice(offset, count === undefined ? undefined : offset + count),
      },
    };
    return { status: 200, body };
  }
}

/** `CodeSystem/$lookup` (R4 codesystem-operation-lookup.html): a concept's name, display, designations and properties. */
export class LookupOperation extends TerminologyOperation<CodeSystem> {
  readonly name = 'lookup';
  readonly type = 'CodeSystem';
  readonly definition = definition('CodeSystem', 'lookup', 'CodeSystemLookup', [
    param('code', 'in', 'code'),
    param('system', 'in', 'uri'),
    param('version', 'in', 'string'),
    param('coding', 'in', 'Coding'),
    param('name', 'out', 'string'),
    param('version', 'out', 'string'),
    param('display', 'out', 'string'),
    param('designation', 'out', '', '*'),
    param('property', 'out', '', '*'),
  ]);

  async invoke(call: OperationCall): Promise<FhirResponse> {
    const input = new OperationInputs(call);
    const coding = input.coding('coding');
    const code = input.text('code') ?? coding?.code;
    if (!code) throw badRequest('$lookup needs code (with system) or coding');
    let cs: CodeSystem;
    let concept: IndexedConcept | undefined;
    if (call.level === 'instance') {
      cs = await this.target(call, input);
      concept = this.terminology.index(cs).get(code);
      if (!concept) throw FhirError.of(404, 'not-found', `code "${code}" is not defined in CodeSystem ${cs.url}`);
    } else {
      const system = input.text('system') ?? coding?.system;
      if (!system) throw badRequest('$lookup at type level needs system (or a coding with one)');
      ({ cs, concept } = await this.terminology.lookup(system, code));
    }
    return parameters([
      { name: 'name', valueString: cs.name ?? cs.title ?? cs.url },
      !!cs.version && { name: 'version', valueString: cs.version },
      !!concept.display && { name: 'display', valueString: concept.display },
      ...(concept.designation ?? []).map((d) => ({
        name: 'designation',
        part: [d.language && { name: 'language', valueCode: d.language }, d.use && { name: 'use', valueCoding: d.use }, { name: 'value', valueString: d.value }].filter(Boolean) as ParametersParameter[],
      })),
      ...(concept.parent !== undefined ? [property('parent', { valueCode: concept.parent })] : []),
      ...concept.children.map((c) => property('child', { valueCode: c })),
      ...(concept.property ?? []).map((p) => property(p.code, valueOf(p))),
    ]);
  }
}

const property = (code: string, value: Partial<ParametersParameter>): ParametersParameter => ({
  name: 'property',
  part: [{ name: 'code', valueCode: code }, { name: 'value', ...value }],
});

/** The value[x] of a concept property, as a Parameters value. */
function valueOf(p: object): Partial<ParametersParameter> {
  const entry = Object.entries(p).find(([k]) => k.startsWith('value'));
  return entry ? { [entry[0]]: entry[1] } : {};
}

const VALIDATE_CODE_PARAMS = (type: TerminologyType): OperationDefinitionParameter[] => [
  param('url', 'in', 'uri'),
  ...(type === 'ValueSet' ? [param('valueSet', 'in', 'ValueSet'), param('valueSetVersion', 'in', 'string'), param('system', 'in', 'uri')] : [param('version', 'in', 'string')]),
  param('code', 'in', 'code'),
  param('display', 'in', 'string'),
  param('coding', 'in', 'Coding'),
  ...(type === 'ValueSet' ? [param('codeableConcept', 'in', 'CodeableConcept')] : []),
  param('result', 'out', 'boolean'),
  param('message', 'out', 'string'),
  param('display', 'out', 'string'),
];

/** `ValueSet/$validate-code` and `CodeSystem/$validate-code` (R4 valueset-/codesystem-operation-validate-code.html). */
export class ValidateCodeOperation extends TerminologyOperation<ValueSet | CodeSystem> {
  readonly name = 'validate-code';
  readonly definition: OperationDefinition;

  constructor(
    terminology: TerminologyService,
    storage: StorageService,
    readonly type: TerminologyType,
  ) {
    super(terminology, storage);
    this.definition = definition(type, 'validate-code', `${type}ValidateCode`, VALIDATE_CODE_PARAMS(type));
  }

  async invoke(call: OperationCall): Promise<FhirResponse> {
    const input = new OperationInputs(call);
    const codings = this.codings(input);
    let answer: CodeValidation;
    if (this.type === 'ValueSet') {
      answer = await this.terminology.validateInValueSet((await this.target(call, input, 'valueSet')) as ValueSet, codings);
    } else {
      const cs = (await this.target(call, input, undefined, codings[0].system)) as CodeSystem;
      answer = this.terminology.validateInCodeSystem(cs, codings[0]);
    }
    return parameters([
      { name: 'result', valueBoolean: answer.result },
      !!answer.message && { name: 'message', valueString: answer.message },
      !!answer.display && { name: 'display', valueString: answer.display },
    ]);
  }

  /** The concept to check: `code` (+`system`, `display`), a `coding`, or (ValueSet) a `codeableConcept`'s codings. */
  private codings(input: OperationInputs): Coding[] {
    const code = input.text('code');
    if (code !== undefined) {
      const system = this.type === 'ValueSet' ? input.text('system') : input.text('url');
      // ValueSet: a code needs its system (a ValueSet may hold the same code from several systems)
      if (this.type === 'ValueSet' && system === undefined) throw badRequest('$validate-code: code needs system');
      return [{ system, code, display: input.text('display') }];
    }
    const coding = input.coding('coding');
    if (coding?.code) return [coding];
    const concept = this.type === 'ValueSet' ? input.concept('codeableConcept') : undefined;
    const codings = (concept?.coding ?? []).filter((c) => c.code);
    if (codings.length) return codings;
    throw badRequest(`$validate-code needs code, coding${this.type === 'ValueSet' ? ' or codeableConcept' : ''}`);
  }
}

/** `CodeSystem/$subsumes` (R4 codesystem-operation-subsumes.html): equivalent, subsumes, subsumed-by or not-subsumed. */
export class SubsumesOperation extends TerminologyOperation<CodeSystem> {
  readonly name = 'subsumes';
  readonly type = 'CodeSystem';
  readonly definition = definition('CodeSystem', 'subsumes', 'CodeSystemSubsumes', [
    param('codeA', 'in', 'code'),
    param('codeB', 'in', 'code'),
    param('system', 'in', 'uri'),
    param('version', 'in', 'string'),
    param('codingA', 'in', 'Coding'),
    param('codingB', 'in', 'Coding'),
    param('outcome', 'out', 'code'),
  ]);

  async invoke(call: OperationCall): Promise<FhirResponse> {
    const input = new OperationInputs(call);
    const a = input.coding('codingA');
    const b = input.coding('codingB');
    const codeA = input.text('codeA') ?? a?.code;
    const codeB = input.text('codeB') ?? b?.code;
    if (!codeA || !codeB) throw badRequest('$subsumes needs codeA and codeB (or codingA and codingB)');
    const system = call.level === 'instance' ? (await this.target(call, input)).url : (input.text('system') ?? a?.system ?? b?.system);
    if (!system) throw badRequest('$subsumes needs system');
    for (const c of [a, b]) if (c?.system && c.system !== system) throw badRequest(`$subsumes compares codes of one system: ${c.system} is not ${system}`);
    return parameters([{ name: 'outcome', valueCode: await this.terminology.subsumes(system, codeA, codeB) }]);
  }
}

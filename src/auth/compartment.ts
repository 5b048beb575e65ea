import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';
import type { Resource } from 'fhir/r4';
import type { CompactDefinitions, SearchParameterInfo } from '../fhir/definitions/definitions';

type Extractor = (resource: Resource) => unknown[];

/**
 * In-memory checks of a resource body against a SMART rule, for writes (the
 * body is not stored yet, so SQL cannot see it) and for old versions:
 * membership of the Patient compartment (R4 CompartmentDefinition) and
 * granular token filters (`?category=vital-signs`). Reads of stored
 * resources are checked in SQL instead (SearchRestriction).
 */
export class CompartmentChecker {
  private readonly extractors = new Map<string, Extractor | null>();

  constructor(
    private readonly definitions: CompactDefinitions,
    private readonly baseUrl: string,
  ) {}

  /** Is the type in the Patient compartment at all (CompartmentDefinition-patient lists it with parameters)? */
  isPatientCompartmentType(resourceType: string): boolean {
    return resourceType === 'Patient' || !!this.definitions.compartments.Patient?.[resourceType]?.length;
  }

  /** Does the resource belong to the compartment of Patient/`patientId`? */
  inPatientCompartment(resource: Resource, patientId: string): boolean {
    if (resource.resourceType === 'Patient' && resource.id === patientId) return true;
    for (const code of this.definitions.compartments.Patient?.[resource.resourceType] ?? []) {
      const values = this.values(resource, code);
      if (values?.some((v) => this.refersToPatient(v, patientId))) return true;
    }
    return false;
  }

  /**
   * May a write by a token bounded to Patient/`patientId` hold this content?
   * Every Patient compartment the resource would join must be that
   * patient's: it is in the compartment, and no compartment parameter
   * (Observation.performer, Group.member, Patient.link, …) nor the id of a
   * Patient names another local Patient. One matching reference is enough to
   * read; writing it into another patient's record is not (SMART patient/
   * scopes: data about the patient in context).
   */
  onlyInPatientCompartment(resource: Resource, patientId: string): boolean {
    if (!this.inPatientCompartment(resource, patientId)) return false;
    if (resource.resourceType === 'Patient' && resource.id && resource.id !== patientId) return false;
    for (const code of this.definitions.compartments.Patient?.[resource.resourceType] ?? []) {
      for (const v of this.values(resource, code) ?? []) {
        const local = this.localPatientReference(v);
        if (local !== undefined && !this.refersToPatient(v, patientId)) return false;
      }
    }
    return true;
  }

  /**
   * Do all filter pairs hold for the resource? Only token parameters can be
   * checked in memory; any other parameter or a modifier answers false
   * (refuse rather than guess).
   */
  matchesFilter(resource: Resource, filter: [string, string][]): boolean {
    return filter.every(([name, value]) => {
      if (name.includes(':')) return false;
      const sp = this.param(resource.resourceType, name);
      if (!sp || sp.type !== 'token') return false;
      const values = this.values(resource, name) ?? [];
      return value.split(',').some((wanted) => values.some((v) => tokenMatches(v, wanted)));
    });
  }

  /** The reference text when it names a Patient of this server (`Patient/x`, absolute, or conditional `Patient?…`). */
  private localPatientReference(value: unknown): string | undefined {
    const ref = (value as { reference?: unknown })?.reference;
    if (typeof ref !== 'string') return undefined;
    const local = ref.startsWith(this.baseUrl + '/') ? ref.slice(this.baseUrl.length + 1) : ref;
    return /^Patient[/?]/.test(local) ? local : undefined;
  }

  private refersToPatient(value: unknown, patientId: string): boolean {
    const ref = (value as { reference?: unknown })?.reference;
    if (typeof ref !== 'string') return false;
    const local = ref.startsWith(this.baseUrl + '/') ? ref.slice(this.baseUrl.length + 1) : ref;
    return local === `Patient/${patientId}` || local.startsWith(`Patient/${patientId}/_history/`);
  }

  private param(resourceType: string, code: string): SearchParameterInfo | undefined {
    return this.definitions.searchParameters.find((sp) => sp.code === code && sp.base.includes(resourceType) && sp.expression);
  }

  private values(resource: Resource, code: string): unknown[] | undefined {
    const key = `${resource.resourceType}.${code}`;
    let fn = this.extractors.get(key);
    if (fn === undefined) {
      const sp = this.param(resource.resourceType, code);
      // resolve() needs a server round trip; the reference text is what is compared here anyway
      const expression = sp?.expression?.replace(/\.where\(resolve\(\) is [A-Za-z]+\)/g, '');
      fn = expression ? (fhirpath.compile(expression, r4model as any) as unknown as Extractor) : null;
      this.extractors.set(key, fn);
    }
    if (!fn) return undefined;
    try {
      return fn(resource);
    } catch {
      return undefined;
    }
  }
}

/** Token search semantics (search.html#token): `code`, `system|code`, `|code`, `system|`. */
export function tokenMatches(value: unknown, wanted: string): boolean {
  const bar = wanted.indexOf('|');
  const system = bar < 0 ? undefined : wanted.slice(0, bar);
  const code = bar < 0 ? wanted : wanted.slice(bar + 1);
  const one = (s: unknown, c: unknown) => {
    if (c === undefined || c === null) return false;
    if (code !== '' && String(c) !== code) return false;
    if (system === undefined) return true;
    if (system === '') return s === undefined || s === null;
    return s === system;
  };
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') {
    return system === undefined || system === '' ? one(undefined, value) : false;
  }
  const v = value as Record<string, any>;
  if (!v || typeof v !== 'object') return false;
  if (Array.isArray(v.coding)) return v.coding.some((c: any) => one(c?.system, c?.code));
  if ('code' in v) return one(v.system, v.code);
  if ('value' in v) return one(v.system, v.value);
  return false;
}

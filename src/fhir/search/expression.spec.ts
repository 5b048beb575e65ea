import { loadDefinitions } from '../definitions/definitions';
import { patientBundleFiles, readBundle, resourcesOf, syntheaPresent } from '../../../test/fhir/search/synthea-fixtures';
import { SearchIndexer } from './search-indexer';
import { SearchParameterRegistry } from './search-params';

/**
 * The direct accessors the indexer compiles for plain paths must select the
 * same values as the FHIRPath engine evaluating the official expression, on
 * real data: every search parameter of every resource in Synthea bundles of
 * the three shared sets.
 */
const present = syntheaPresent();
(present ? describe : describe.skip)('direct accessors = FHIRPath on Synthea resources', () => {
  const registry = new SearchParameterRegistry(loadDefinitions());
  const indexer = new SearchIndexer(registry, 'http://localhost:8080/fhir');
  const compiler = indexer.expressionCompiler;
  const sets = ['blaze', 'fhir-data-pipes-hiv', 'smart-generated-sample-data'];

  it.each(sets)('set %s', (set) => {
    const resources = patientBundleFiles(set, 2).flatMap((f) => resourcesOf(readBundle(f)));
    expect(resources.length).toBeGreaterThan(100);
    let compared = 0;
    let nonEmpty = 0;
    const mismatches: string[] = [];
    for (const r of resources) {
      for (const sp of registry.paramsOf(r.resourceType).values()) {
        if (!sp.expression || sp.type === 'composite' || sp.type === 'special') continue;
        const direct = compiler.compileFor(r.resourceType, sp.expression);
        if (!direct?.direct) continue;
        const oracle = compiler.compileForFhirPath(r.resourceType, sp.expression)!;
        const a = JSON.stringify(direct(r).map((v) => v.value));
        const b = JSON.stringify(oracle(r).map((v) => v.value));
        compared++;
        if (a !== '[]') nonEmpty++;
        if (a !== b && mismatches.length < 10) mismatches.push(`${r.resourceType}.${sp.code}: direct ${a.slice(0, 200)} fhirpath ${b.slice(0, 200)}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(1000);
    expect(nonEmpty).toBeGreaterThan(500);
  });

  it('compiles most official expressions to direct accessors', () => {
    let direct = 0;
    let total = 0;
    for (const type of registry.resourceTypes) {
      for (const sp of registry.paramsOf(type).values()) {
        if (!sp.expression || sp.type === 'composite' || sp.type === 'special') continue;
        const e = compiler.compileFor(type, sp.expression);
        if (!e) continue;
        total++;
        if (e.direct) direct++;
      }
    }
    expect(direct / total).toBeGreaterThan(0.95);
  });
});

/** `Patient.deceased.exists() and Patient.deceased != false` runs as a direct accessor; FHIRPath is its oracle. */
describe('the deceased flag as a direct accessor', () => {
  const registry = new SearchParameterRegistry(loadDefinitions());
  const compiler = new SearchIndexer(registry, 'http://localhost:8080/fhir').expressionCompiler;
  const expression = registry.paramsOf('Patient').get('deceased')!.expression!;

  it.each([
    [{}, false],
    [{ deceasedBoolean: false }, false],
    [{ deceasedBoolean: true }, true],
    [{ deceasedDateTime: '2020-01-01' }, true],
  ])('%j gives %s, as FHIRPath does', (fields, expected) => {
    const patient = { resourceType: 'Patient', ...fields };
    const direct = compiler.compileFor('Patient', expression)!;
    expect(direct.direct).toBe(true);
    expect(direct(patient).map((v) => v.value)).toEqual([expected]);
    expect(compiler.compileForFhirPath('Patient', expression)!(patient).map((v) => v.value)).toEqual([expected]);
  });
});

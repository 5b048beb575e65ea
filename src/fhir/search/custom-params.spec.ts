import type { SearchParameter } from 'fhir/r4';
import { logger } from '../../logger';
import { COMMON_CODE, toParamInfo } from './custom-params';
import type { SearchParameterRegistry } from './search-params';

// search.html#all: `_id` and the other `_` parameters are common to every type and answered by the server
// itself. US Core 6.1.0 redefines `_id` per type (us-core-patient-id, derivedFrom Resource-id): such a
// SearchParameter is not put in force, and the log says why (not "no valid code").
describe('custom SearchParameters: what is put in force', () => {
  const registry = { isResourceType: (t: string) => t === 'Patient' } as unknown as SearchParameterRegistry;
  const sp = (code: string, expression: string): SearchParameter => ({
    resourceType: 'SearchParameter',
    url: `http://hl7.org/fhir/us/core/SearchParameter/us-core-patient-${code}`,
    name: code,
    status: 'active',
    description: code,
    code,
    base: ['Patient'],
    type: 'token',
    expression,
  });

  it('a redefinition of `_id` (US Core us-core-patient-id) is left to the server, with that reason logged', () => {
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    try {
      expect(toParamInfo({ ...sp('_id', 'Patient.id'), derivedFrom: 'http://hl7.org/fhir/SearchParameter/Resource-id' }, registry, 'stored')).toBeUndefined();
      expect(warn).toHaveBeenCalledWith(expect.objectContaining({ code: '_id', problem: COMMON_CODE }), 'custom SearchParameter ignored');
    } finally {
      warn.mockRestore();
    }
  });

  it('a new code on the type (US Core us-core-race) is taken as it is', () => {
    const race = sp('race', "Patient.extension.where(url = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race').extension.value.code");
    expect(toParamInfo(race, registry, 'stored')).toMatchObject({ code: 'race', base: ['Patient'], type: 'token', expression: race.expression });
  });
});

import { allowedScopes, describeScope, parseResourceScope, parseScopes, ruleCovers } from './scopes';

const letters = (s: string) => [...(parseResourceScope(s)?.interactions ?? [])].sort().join('');

// SMART App Launch 2.0 §"Scopes for requesting FHIR resources" and §"Scope equivalence" (v1 → v2)
describe('SMART scopes', () => {
  it('maps v1 read/write/* to v2 letters', () => {
    expect(letters('patient/Observation.read')).toBe('rs');
    expect(letters('user/*.write')).toBe('cdu');
    expect(letters('system/*.*')).toBe('cdrsu');
  });

  it('parses v2 letters in order c r u d s, and refuses other orders', () => {
    expect(letters('patient/Observation.rs')).toBe('rs');
    expect(letters('system/*.cruds')).toBe('cdrsu');
    expect(parseResourceScope('patient/Observation.sr')).toBeUndefined();
    expect(parseResourceScope('patient/Observation.rx')).toBeUndefined();
    expect(parseResourceScope('patient/Observation.')).toBeUndefined();
  });

  it('parses granular v2 filters; v1 permissions take none', () => {
    const r = parseResourceScope('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs')!;
    expect(r.context).toBe('patient');
    expect(r.resourceType).toBe('Observation');
    expect(r.filter).toEqual([['category', 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs']]);
    expect(parseResourceScope('patient/Observation.read?category=x')).toBeUndefined();
    expect(parseResourceScope('patient/Observation.rs?')).toBeUndefined();
  });

  it('drops unknown scopes and unknown resource types, keeps launch/OIDC scopes', () => {
    const p = parseScopes('openid fhirUser launch/patient patient/Nope.rs patient/Observation.rs bogus offline_access', (t) =>
      ['Observation', 'Patient'].includes(t),
    );
    expect(p.scopes).toEqual(['openid', 'fhirUser', 'launch/patient', 'patient/Observation.rs', 'offline_access']);
    expect(p.rules).toHaveLength(1);
  });

  it('a broader registered scope covers a narrower request; granular covers only the same filter', () => {
    const g = parseResourceScope('patient/*.cruds')!;
    expect(ruleCovers(g, parseResourceScope('patient/Observation.read')!)).toBe(true);
    expect(ruleCovers(g, parseResourceScope('user/Observation.read')!)).toBe(false);
    const granular = parseResourceScope('patient/Observation.rs?category=vital-signs')!;
    expect(ruleCovers(granular, parseResourceScope('patient/Observation.rs')!)).toBe(false);
    expect(ruleCovers(granular, parseResourceScope('patient/Observation.r?category=vital-signs')!)).toBe(true);
    expect(ruleCovers(parseResourceScope('patient/Observation.rs')!, granular)).toBe(true);
  });

  it('grants the requested scopes the client is registered for, fewer when asked for more', () => {
    expect(allowedScopes(['patient/Observation.rs', 'patient/Condition.cruds', 'openid', 'launch'], ['patient/*.rs', 'openid'])).toEqual([
      'patient/Observation.rs',
      'openid',
    ]);
  });

  it('describes scopes in plain words', () => {
    expect(describeScope('patient/Observation.rs')).toBe('Read and search Observation records about the selected patient');
    expect(describeScope('user/*.cruds')).toBe('Create, read, update, delete and search all kinds of records that you can access');
    expect(describeScope('offline_access')).toMatch(/not using the app/);
  });
});

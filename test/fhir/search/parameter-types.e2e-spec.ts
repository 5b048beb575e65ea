import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

// R4 search.html: the search parameter types (#string #token #date #number #quantity #uri #reference #composite)
// and their prefixes (#prefix) and modifiers (#modifiers). Each block uses its own resource type so the
// expected sets are exact.
describe('search parameter types (search.html)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  describe('string (search.html#string): case- and accent-insensitive prefix; :exact, :contains', () => {
    const p: Record<string, string> = {};
    beforeAll(async () => {
      p.a = await create(t, { resourceType: 'Patient', active: true, name: [{ family: 'Müller-Schmidt', given: ['Ève'] }], address: [{ city: 'Boston', postalCode: '02134' }] });
      p.b = await create(t, { resourceType: 'Patient', name: [{ family: 'Muller', given: ['Anna'] }], telecom: [{ system: 'phone', value: '555-1234' }, { system: 'email', value: 'anna@example.org' }] });
      p.c = await create(t, { resourceType: 'Patient', name: [{ text: 'Dr. John Smith', family: 'Smith', given: ['John'], prefix: ['Dr.'] }] });
      p.d = await create(t, { resourceType: 'Patient', name: [{ family: 'Mullins', given: ['Zoë'] }], address: [{ city: 'Bostwick' }] });
    });

    it('matches a prefix, ignoring case and accents', async () => {
      expect(await ids(t, 'Patient?family=mul')).toEqual(sorted([p.a, p.b, p.d]));
      expect(await ids(t, 'Patient?family=MÜLLER')).toEqual(sorted([p.a, p.b]));
      expect(await ids(t, 'Patient?given=eve')).toEqual([p.a]);
      expect(await ids(t, 'Patient?given=zoe')).toEqual([p.d]);
      expect(await ids(t, 'Patient?family=ller')).toEqual([]); // not a prefix
    });

    it('name matches any part of HumanName (family, given, prefix, text); address any part', async () => {
      expect(await ids(t, 'Patient?name=dr.')).toEqual([p.c]);
      expect(await ids(t, 'Patient?name=ann')).toEqual([p.b]);
      expect(await ids(t, 'Patient?name=dr. john')).toEqual([p.c]); // the text
      expect(await ids(t, 'Patient?address=bost')).toEqual(sorted([p.a, p.d]));
      expect(await ids(t, 'Patient?address-city=boston')).toEqual([p.a]);
      expect(await ids(t, 'Patient?address-postalcode=021')).toEqual([p.a]);
    });

    it(':exact matches the whole string, case and accents included', async () => {
      expect(await ids(t, 'Patient?family:exact=Muller')).toEqual([p.b]);
      expect(await ids(t, 'Patient?family:exact=muller')).toEqual([]);
      expect(await ids(t, `Patient?family:exact=${encodeURIComponent('Müller-Schmidt')}`)).toEqual([p.a]);
    });

    it(':contains matches anywhere in the string', async () => {
      expect(await ids(t, 'Patient?family:contains=SCHMI')).toEqual([p.a]);
      expect(await ids(t, 'Patient?name:contains=ohn')).toEqual([p.c]);
    });

    it('a comma is OR, a repeated parameter is AND (#combining); \\, escapes a comma (#escaping)', async () => {
      expect(await ids(t, 'Patient?family=smith,mullins')).toEqual(sorted([p.c, p.d]));
      expect(await ids(t, 'Patient?family=mul&given=anna')).toEqual([p.b]);
      expect(await ids(t, 'Patient?family=mul&given=john')).toEqual([]);
      expect(await ids(t, `Patient?family=${encodeURIComponent('smith\\,mullins')}`)).toEqual([]);
    });
  });

  describe('token (search.html#token): code, system|code, |code, system|, :text :not :in :not-in :of-type', () => {
    const c: Record<string, string> = {};
    beforeAll(async () => {
      const subject = { reference: 'Patient/token-subject' };
      c.loinc = await create(t, { resourceType: 'Condition', subject, code: { coding: [{ system: 'http://loinc.org', code: '1234-5', display: 'Glucose in Blood' }] }, identifier: [{ system: 'urn:ids', value: 'A-1' }] });
      c.snomed = await create(t, { resourceType: 'Condition', subject, code: { coding: [{ system: 'http://snomed.info/sct', code: '1234-5' }] }, identifier: [{ system: 'urn:other', value: 'A-1' }] });
      c.nosys = await create(t, { resourceType: 'Condition', subject, code: { coding: [{ code: '1234-5' }] }, identifier: [{ value: 'A-1' }] });
      c.text = await create(t, { resourceType: 'Condition', subject, code: { text: 'Blood sugar high' }, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] } });
    });

    it('matches code in any system, system|code, |code (no system) and system| (any code)', async () => {
      expect(await ids(t, 'Condition?code=1234-5')).toEqual(sorted([c.loinc, c.snomed, c.nosys]));
      expect(await ids(t, 'Condition?code=http://loinc.org|1234-5')).toEqual([c.loinc]);
      expect(await ids(t, 'Condition?code=|1234-5')).toEqual([c.nosys]);
      expect(await ids(t, 'Condition?code=http://snomed.info/sct|')).toEqual([c.snomed]);
      expect(await ids(t, 'Condition?code=1234-6')).toEqual([]);
    });

    it('identifiers are tokens: value, system|value', async () => {
      expect(await ids(t, 'Condition?identifier=A-1')).toEqual(sorted([c.loinc, c.snomed, c.nosys]));
      expect(await ids(t, 'Condition?identifier=urn:ids|A-1')).toEqual([c.loinc]);
      expect(await ids(t, 'Condition?identifier=a-1')).toEqual([]); // tokens are exact
    });

    it(':text searches the display and CodeableConcept.text', async () => {
      expect(await ids(t, 'Condition?code:text=blood')).toEqual(sorted([c.loinc, c.text]));
      expect(await ids(t, 'Condition?code:text=sugar hi')).toEqual([c.text]);
    });

    it(':not keeps resources without a matching code (those with no code included)', async () => {
      expect(await ids(t, 'Condition?code:not=http://loinc.org|1234-5')).toEqual(sorted([c.snomed, c.nosys, c.text]));
    });

    it(':in / :not-in test membership (system and code) of a ValueSet (a core one, or a stored ValueSet; see value-sets.e2e-spec.ts)', async () => {
      const vs = 'http://hl7.org/fhir/ValueSet/condition-clinical';
      expect(await ids(t, `Condition?clinical-status:in=${vs}`)).toEqual([c.text]);
      await create(t, { resourceType: 'ValueSet', status: 'active', url: 'http://example.org/vs/glucose', compose: { include: [{ system: 'http://loinc.org', concept: [{ code: '1234-5' }] }] } });
      expect(await ids(t, 'Condition?code:in=http://example.org/vs/glucose')).toEqual([c.loinc]);
      expect(await ids(t, 'Condition?code:not-in=http://example.org/vs/glucose')).toEqual(sorted([c.snomed, c.nosys, c.text]));
    });

    it('booleans and ContactPoints are tokens; :of-type matches Identifier.type with the value', async () => {
      expect((await ids(t, 'Patient?active=true')).length).toBe(1);
      expect((await ids(t, 'Patient?telecom=555-1234')).length).toBe(1);
      expect((await ids(t, 'Patient?phone=555-1234')).length).toBe(1);
      expect((await ids(t, 'Patient?email=555-1234')).length).toBe(0);
      expect((await ids(t, 'Patient?telecom=phone|555-1234')).length).toBe(1);
      const mr = await create(t, { resourceType: 'Patient', identifier: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, system: 'urn:mrn', value: '8879' }] });
      expect(await ids(t, 'Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|8879')).toEqual([mr]);
      expect(await ids(t, 'Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|8879')).toEqual([]);
      // search.html#token :of-type: "All 3 parts must be present"
      for (const v of ['|MR|8879', 'http://terminology.hl7.org/CodeSystem/v2-0203||8879', 'http://terminology.hl7.org/CodeSystem/v2-0203|MR|']) {
        expect([v, (await t.http.get(`/fhir/Patient?identifier:of-type=${encodeURIComponent(v)}`)).status]).toEqual([v, 400]);
      }
    });
  });

  describe('date (search.html#date): implicit ranges of the precision given, Period overlaps, every prefix', () => {
    const p: Record<string, string> = {};
    beforeAll(async () => {
      const base = { resourceType: 'Procedure', status: 'completed', subject: { reference: 'Patient/date-subject' } };
      p.instant = await create(t, { ...base, performedDateTime: '2021-06-15T10:00:00Z' });
      p.month = await create(t, { ...base, performedDateTime: '2021-06' });
      p.year = await create(t, { ...base, performedPeriod: { start: '2021-01-01', end: '2021-12-31' } });
      p.open = await create(t, { ...base, performedPeriod: { start: '2022-03-01' } });
      p.zoned = await create(t, { ...base, performedDateTime: '2020-12-31T23:00:00-05:00' });
      p.old = await create(t, { ...base, performedDateTime: '1990-02-02' });
    });

    it('eq: the target lies within the range the value implies', async () => {
      expect(await ids(t, 'Procedure?date=2021')).toEqual(sorted([p.instant, p.month, p.year, p.zoned]));
      expect(await ids(t, 'Procedure?date=2021-06-15')).toEqual([p.instant]);
      expect(await ids(t, 'Procedure?date=eq2021-06')).toEqual(sorted([p.instant, p.month]));
      expect(await ids(t, 'Procedure?date=2021-01-01')).toEqual([p.zoned]); // 2021-01-01T04:00Z
    });

    it('gt/lt: some part of the target is after/before the value; ge/le include eq', async () => {
      expect(await ids(t, 'Procedure?date=gt2021-06-15')).toEqual(sorted([p.month, p.year, p.open]));
      expect(await ids(t, 'Procedure?date=lt2021-06-15')).toEqual(sorted([p.month, p.year, p.zoned, p.old]));
      expect(await ids(t, 'Procedure?date=ge2021-06-15')).toEqual(sorted([p.instant, p.month, p.year, p.open]));
      expect(await ids(t, 'Procedure?date=le2021-06-15')).toEqual(sorted([p.instant, p.month, p.year, p.zoned, p.old]));
    });

    it('sa/eb: the target starts after / ends before the value; ne: not eq', async () => {
      expect(await ids(t, 'Procedure?date=sa2021-12-31')).toEqual([p.open]);
      expect(await ids(t, 'Procedure?date=eb2021-01-02')).toEqual(sorted([p.zoned, p.old]));
      expect(await ids(t, 'Procedure?date=ne2021')).toEqual(sorted([p.open, p.old]));
    });

    it('ap: approximately (within 10% of the distance to now)', async () => {
      const ap = await ids(t, 'Procedure?date=ap2021-06-15');
      expect(ap).toEqual(expect.arrayContaining([p.instant, p.month, p.year]));
      expect(ap).not.toContain(p.old);
    });

    it('two prefixes make a range (AND)', async () => {
      expect(await ids(t, 'Procedure?date=ge2021-06-01&date=lt2021-07-01')).toEqual(sorted([p.instant, p.month, p.year]));
    });

    it('on a repeating element each condition of an AND may be met by a different value (#combining)', async () => {
      const goal = await create(t, {
        resourceType: 'Goal',
        lifecycleStatus: 'active',
        description: { text: 'two targets' },
        subject: { reference: 'Patient/date-subject' },
        target: [{ dueDate: '2010-05-05' }, { dueDate: '2020-05-05' }],
      });
      expect(await ids(t, 'Goal?target-date=ge2019-01-01&target-date=le2011-01-01')).toEqual([goal]);
      expect(await ids(t, 'Goal?target-date=ge2021-01-01&target-date=le2009-01-01')).toEqual([]);
    });

    it('an invalid date is 400', async () => {
      expect((await t.http.get('/fhir/Procedure?date=2021-13-45')).status).toBe(400);
      expect((await t.http.get('/fhir/Procedure?date=yesterday')).status).toBe(400);
    });
  });

  describe('number (search.html#number): implicit precision of the value, prefixes', () => {
    const r: Record<string, string> = {};
    beforeAll(async () => {
      const ra = (prediction: object) => ({ resourceType: 'RiskAssessment', status: 'final', subject: { reference: 'Patient/n' }, prediction: [prediction] });
      r.v100 = await create(t, ra({ probabilityDecimal: 100 }));
      r.v99_6 = await create(t, ra({ probabilityDecimal: 99.6 }));
      r.v100_4 = await create(t, ra({ probabilityDecimal: 100.4 }));
      r.v101 = await create(t, ra({ probabilityDecimal: 101 }));
      r.range = await create(t, ra({ probabilityRange: { low: { value: 0.2 }, high: { value: 0.4 } } }));
    });

    it('eq uses the precision of the value: 100 is [99.5, 100.5), 100.0 is [99.95, 100.05), 1e2 is [50, 150)', async () => {
      expect(await ids(t, 'RiskAssessment?probability=100')).toEqual(sorted([r.v100, r.v99_6, r.v100_4]));
      expect(await ids(t, 'RiskAssessment?probability=100.0')).toEqual([r.v100]);
      expect(await ids(t, 'RiskAssessment?probability=1e2')).toEqual(sorted([r.v100, r.v99_6, r.v100_4, r.v101]));
    });

    it('gt lt ge le ne sa eb ap', async () => {
      expect(await ids(t, 'RiskAssessment?probability=gt100')).toEqual(sorted([r.v100_4, r.v101]));
      expect(await ids(t, 'RiskAssessment?probability=ge100')).toEqual(sorted([r.v100, r.v100_4, r.v101]));
      expect(await ids(t, 'RiskAssessment?probability=lt100')).toEqual(sorted([r.v99_6, r.range]));
      expect(await ids(t, 'RiskAssessment?probability=le100')).toEqual(sorted([r.v100, r.v99_6, r.range]));
      expect(await ids(t, 'RiskAssessment?probability=ne100')).toEqual(sorted([r.v101, r.range]));
      expect(await ids(t, 'RiskAssessment?probability=sa0.4')).toEqual(sorted([r.v100, r.v99_6, r.v100_4, r.v101]));
      expect(await ids(t, 'RiskAssessment?probability=eb0.5')).toEqual([r.range]);
      expect(await ids(t, 'RiskAssessment?probability=ap100')).toEqual(sorted([r.v100, r.v99_6, r.v100_4, r.v101]));
      expect(await ids(t, 'RiskAssessment?probability=0.3')).toEqual([]); // the range [0.2,0.4] is not within [0.25,0.35)
    });

    it('a malformed number is 400', async () => {
      expect((await t.http.get('/fhir/RiskAssessment?probability=abc')).status).toBe(400);
    });
  });

  describe('quantity (search.html#quantity): [prefix]number|system|code', () => {
    const o: Record<string, string> = {};
    beforeAll(async () => {
      const obs = (valueQuantity: object) => ({ resourceType: 'Observation', status: 'final', code: { text: 'q' }, valueQuantity });
      o.mg = await create(t, obs({ value: 5.4, system: 'http://unitsofmeasure.org', code: 'mg', unit: 'mg' }));
      o.g = await create(t, obs({ value: 5.4, system: 'http://unitsofmeasure.org', code: 'g', unit: 'g' }));
      o.unitOnly = await create(t, obs({ value: 6, unit: 'mg' }));
    });

    it('number alone, with system and code, and with code only (||code)', async () => {
      expect(await ids(t, 'Observation?value-quantity=5.4')).toEqual(sorted([o.mg, o.g]));
      expect(await ids(t, 'Observation?value-quantity=5.4|http://unitsofmeasure.org|mg')).toEqual([o.mg]);
      expect(await ids(t, 'Observation?value-quantity=5.4||mg')).toEqual([o.mg]);
      expect(await ids(t, 'Observation?value-quantity=gt5.5||mg')).toEqual([o.unitOnly]);
      expect(await ids(t, 'Observation?value-quantity=le5.4')).toEqual(sorted([o.mg, o.g]));
    });
  });

  describe('uri (search.html#uri): exact, :below, :above', () => {
    const q: Record<string, string> = {};
    beforeAll(async () => {
      q.one = await create(t, { resourceType: 'Questionnaire', status: 'active', url: 'http://example.org/q/1' });
      q.two = await create(t, { resourceType: 'Questionnaire', status: 'active', url: 'http://example.org/q/2' });
      q.other = await create(t, { resourceType: 'Questionnaire', status: 'active', url: 'http://other.org/q/1' });
    });

    it('matches exactly, below a prefix, or above (a prefix of the value)', async () => {
      expect(await ids(t, 'Questionnaire?url=http://example.org/q/1')).toEqual([q.one]);
      expect(await ids(t, 'Questionnaire?url=http://example.org/q')).toEqual([]);
      expect(await ids(t, 'Questionnaire?url:below=http://example.org/q')).toEqual(sorted([q.one, q.two]));
      expect(await ids(t, 'Questionnaire?url:above=http://example.org/q/1/version/2')).toEqual([q.one]);
    });
  });

  describe('reference (search.html#reference): id, Type/id, absolute URL, :Type, :identifier', () => {
    const o: Record<string, string> = {};
    beforeAll(async () => {
      await t.http.put('/fhir/Patient/ref-x').send({ resourceType: 'Patient', id: 'ref-x' });
      await t.http.put('/fhir/Group/ref-x').send({ resourceType: 'Group', id: 'ref-x', type: 'person', actual: true });
      const enc = (subject: object) => ({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject });
      o.patient = await create(t, enc({ reference: 'Patient/ref-x' }));
      o.group = await create(t, enc({ reference: 'Group/ref-x' }));
      o.absolute = await create(t, enc({ reference: `${t.baseUrl}/Patient/ref-x` }));
      o.external = await create(t, enc({ reference: 'http://other.org/fhir/Patient/9' }));
      o.identifier = await create(t, enc({ identifier: { system: 'urn:mrn', value: '77' } }));
      o.none = await create(t, { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' } });
    });

    it('a bare id matches any target type; Type/id and :Type restrict; our own absolute URL is local', async () => {
      expect(await ids(t, 'Encounter?subject=ref-x')).toEqual(sorted([o.patient, o.group, o.absolute]));
      expect(await ids(t, 'Encounter?subject=Patient/ref-x')).toEqual(sorted([o.patient, o.absolute]));
      expect(await ids(t, 'Encounter?subject:Group=ref-x')).toEqual([o.group]);
      expect(await ids(t, `Encounter?subject=${t.baseUrl}/Patient/ref-x`)).toEqual(sorted([o.patient, o.absolute]));
      expect(await ids(t, 'Encounter?patient=ref-x')).toEqual(sorted([o.patient, o.absolute]));
    });

    it('other absolute URLs match as given; :identifier matches Reference.identifier; :missing', async () => {
      expect(await ids(t, 'Encounter?subject=http://other.org/fhir/Patient/9')).toEqual([o.external]);
      expect(await ids(t, 'Encounter?subject:identifier=urn:mrn|77')).toEqual([o.identifier]);
      // an identifier-only Reference is a value, not missing (search.html#modifiers; modifier-details.e2e-spec.ts)
      expect(await ids(t, 'Encounter?subject:missing=true')).toEqual([o.none]);
      expect((await ids(t, 'Encounter?subject:missing=false')).length).toBe(5);
    });
  });

  describe('composite (search.html#composite): components of the same element', () => {
    const o: Record<string, string> = {};
    beforeAll(async () => {
      const bp = (sys: number, dia: number) => ({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
        component: [
          { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: sys, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
          { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: dia, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        ],
      });
      o.high = await create(t, bp(140, 70));
      o.normal = await create(t, bp(120, 90));
    });

    it('pairs the code with the value of the same component', async () => {
      expect(await ids(t, 'Observation?component-code-value-quantity=http://loinc.org|8480-6$gt130')).toEqual([o.high]);
      expect(await ids(t, 'Observation?component-code-value-quantity=8462-4$gt80')).toEqual([o.normal]);
      // 140 is a systolic value, 90 a diastolic one: no component has code 8480-6 with a value of 90
      expect(await ids(t, 'Observation?component-code-value-quantity=8480-6$90')).toEqual([]);
      expect(await ids(t, 'Observation?combo-code-value-quantity=http://loinc.org|8480-6$lt130')).toEqual([o.normal]);
      expect(await ids(t, 'Observation?component-code-value-quantity=http://snomed.info/sct|8480-6$gt130')).toEqual([]);
    });
  });
});

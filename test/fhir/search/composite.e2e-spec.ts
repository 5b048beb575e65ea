import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

const LOINC = 'http://loinc.org';
const CHROMOSOME = 'http://terminology.hl7.org/CodeSystem/chromosome-human';

// R4 search.html#composite: `a$b[$c]`, every component matched on the same element, each with its own
// parameter type's syntax (prefixes for number, date and quantity). One block per shape of the R4
// composites: token+quantity, token+date, token+string, token+token, token+quantity|Range,
// reference+token, and token+number+number (MolecularSequence coordinates, three components).
describe('composite parameters (search.html#composite)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const obs = (code: string, value: object) => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: LOINC, code }] }, ...value });

  it('token $ quantity: code-value-quantity (prefixes, system|code of the quantity)', async () => {
    const hb = await create(t, obs('718-7', { valueQuantity: { value: 13.2, system: 'http://unitsofmeasure.org', code: 'g/dL' } }));
    const low = await create(t, obs('718-7', { valueQuantity: { value: 9.1, system: 'http://unitsofmeasure.org', code: 'g/dL' } }));
    expect(await ids(t, `Observation?code-value-quantity=${LOINC}|718-7$gt10`)).toEqual([hb]);
    expect(await ids(t, 'Observation?code-value-quantity=718-7$le13.2|http://unitsofmeasure.org|g/dL')).toEqual(sorted([hb, low]));
    expect(await ids(t, 'Observation?code-value-quantity=718-7$9.1')).toEqual([low]);
    expect(await ids(t, 'Observation?code-value-quantity=8480-6$9.1')).toEqual([]);
  });

  it('token $ date: code-value-date (dateTime and Period values)', async () => {
    const at = await create(t, obs('21112-8', { valueDateTime: '1980-05-02' }));
    const period = await create(t, obs('21112-8', { valuePeriod: { start: '2001-01-01', end: '2001-06-30' } }));
    expect(await ids(t, 'Observation?code-value-date=21112-8$1980')).toEqual([at]);
    expect(await ids(t, 'Observation?code-value-date=21112-8$ge2000')).toEqual([period]);
    expect(await ids(t, 'Observation?code-value-date=21112-8$2001-03')).toEqual([]); // the period is not within March
    expect(await ids(t, 'Observation?code-value-date=21112-8$ap2001-03-15')).toEqual([period]);
  });

  it('token $ string: code-value-string (prefix, case-insensitive)', async () => {
    const s = await create(t, obs('8251-1', { valueString: 'Feeling Great' }));
    await create(t, obs('8251-2', { valueString: 'feeling great' }));
    expect(await ids(t, 'Observation?code-value-string=8251-1$feel')).toEqual([s]);
    expect(await ids(t, 'Observation?code-value-string=8251-1$great')).toEqual([]);
  });

  it('token $ token: code-value-concept, component-code-value-concept, Group characteristic-value', async () => {
    const pos = await create(t, obs('94500-6', { valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '10828004' }] } }));
    const comp = await create(t, {
      ...obs('55284-4', {}),
      component: [{ code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260385009' }] } }],
    });
    expect(await ids(t, 'Observation?code-value-concept=94500-6$http://snomed.info/sct|10828004')).toEqual([pos]);
    expect(await ids(t, 'Observation?code-value-concept=94500-6$260385009')).toEqual([]);
    expect(await ids(t, 'Observation?component-code-value-concept=8480-6$260385009')).toEqual([comp]);
    expect(await ids(t, 'Observation?combo-code-value-concept=94500-6$10828004,8480-6$260385009')).toEqual(sorted([pos, comp]));
    const group = await create(t, {
      resourceType: 'Group',
      type: 'person',
      actual: false,
      characteristic: [
        { code: { text: 'smoker', coding: [{ code: 'smoker' }] }, valueBoolean: true, exclude: false },
        { code: { coding: [{ code: 'gender' }] }, valueCodeableConcept: { coding: [{ code: 'female' }] }, exclude: false },
      ],
    });
    expect(await ids(t, 'Group?characteristic-value=smoker$true')).toEqual([group]);
    expect(await ids(t, 'Group?characteristic-value=gender$female')).toEqual([group]);
    expect(await ids(t, 'Group?characteristic-value=smoker$female')).toEqual([]);
  });

  it('token $ quantity|Range: context-type-quantity (useContext)', async () => {
    const age = 'http://terminology.hl7.org/CodeSystem/usage-context-type|age';
    const range = await create(t, { resourceType: 'Questionnaire', status: 'active', useContext: [{ code: { system: 'http://terminology.hl7.org/CodeSystem/usage-context-type', code: 'age' }, valueRange: { low: { value: 18 }, high: { value: 65 } } }] });
    const qty = await create(t, { resourceType: 'Questionnaire', status: 'active', useContext: [{ code: { system: 'http://terminology.hl7.org/CodeSystem/usage-context-type', code: 'age' }, valueQuantity: { value: 70 } }] });
    expect(await ids(t, `Questionnaire?context-type-quantity=${age}$gt60`)).toEqual(sorted([range, qty]));
    expect(await ids(t, `Questionnaire?context-type-quantity=${age}$lt10`)).toEqual([]);
    expect(await ids(t, `Questionnaire?context-type-quantity=${age}$70`)).toEqual([qty]);
    const focus = await create(t, { resourceType: 'Questionnaire', status: 'active', useContext: [{ code: { code: 'focus' }, valueCodeableConcept: { coding: [{ code: 'diabetes' }] } }] });
    expect(await ids(t, 'Questionnaire?context-type-value=focus$diabetes')).toEqual([focus]);
  });

  it('reference $ token: DocumentReference relationship', async () => {
    const target = await create(t, { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { url: 'http://example.org/a' } }] });
    const doc = await create(t, {
      resourceType: 'DocumentReference',
      status: 'current',
      relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${target}` } }],
      content: [{ attachment: { url: 'http://example.org/b' } }],
    });
    expect(await ids(t, `DocumentReference?relationship=DocumentReference/${target}$replaces`)).toEqual([doc]);
    expect(await ids(t, `DocumentReference?relationship=${target}$replaces`)).toEqual([doc]);
    expect(await ids(t, `DocumentReference?relationship=DocumentReference/${target}$transforms`)).toEqual([]);
  });

  describe('three components: MolecularSequence coordinates (token $ number $ number)', () => {
    const m: Record<string, string> = {};
    beforeAll(async () => {
      const seq = (chromosome: string, window: [number, number], variants: [number, number][]) => ({
        resourceType: 'MolecularSequence',
        coordinateSystem: 1,
        referenceSeq: {
          chromosome: { coding: [{ system: CHROMOSOME, code: chromosome }] },
          referenceSeqId: { coding: [{ system: 'http://www.ncbi.nlm.nih.gov/nuccore', code: `NC_00000${chromosome}` }] },
          windowStart: window[0],
          windowEnd: window[1],
        },
        variant: variants.map(([start, end]) => ({ start, end })),
      });
      m.one = await create(t, seq('1', [100, 500], [[100, 200], [300, 400]]));
      m.two = await create(t, seq('2', [100, 500], [[120, 340]]));
    });

    it('chromosome-window-coordinate: all three on referenceSeq', async () => {
      expect(await ids(t, 'MolecularSequence?chromosome-window-coordinate=1$ge100$le500')).toEqual([m.one]);
      expect(await ids(t, `MolecularSequence?chromosome-window-coordinate=${CHROMOSOME}|2$100$500`)).toEqual([m.two]);
      expect(await ids(t, 'MolecularSequence?chromosome-window-coordinate=1$gt100$le500')).toEqual([]);
    });

    it('chromosome-variant-coordinate: the search.html example (1$lt345$gt123), both numbers on the same variant', async () => {
      expect(await ids(t, 'MolecularSequence?chromosome-variant-coordinate=1$lt345$gt123')).toEqual([m.one]);
      expect(await ids(t, 'MolecularSequence?chromosome-variant-coordinate=2$lt345$gt123')).toEqual([m.two]);
      // variant 1 starts before 150, variant 2 ends after 350: no single variant does both
      expect(await ids(t, 'MolecularSequence?chromosome-variant-coordinate=1$lt150$gt350')).toEqual([]);
      expect(await ids(t, 'MolecularSequence?chromosome-variant-coordinate=1$lt150$gt150')).toEqual([m.one]);
      expect(await ids(t, 'MolecularSequence?referenceseqid-variant-coordinate=NC_000001$300$400')).toEqual([m.one]);
      expect(await ids(t, 'MolecularSequence?chromosome-variant-coordinate=1$lt150$gt350,2$120$340')).toEqual([m.two]);
    });

    it('a value with the wrong number of components is 400; the CapabilityStatement lists them', async () => {
      const res = await t.http.get('/fhir/MolecularSequence?chromosome-variant-coordinate=1$lt345');
      expect(res.status).toBe(400);
      expect(res.body.issue[0].diagnostics).toContain('3 components');
      const cs = (await t.http.get('/fhir/metadata')).body;
      const params = cs.rest[0].resource.find((r: any) => r.type === 'MolecularSequence').searchParam.map((p: any) => p.name);
      expect(params).toEqual(expect.arrayContaining(['chromosome-variant-coordinate', 'chromosome-window-coordinate', 'referenceseqid-variant-coordinate']));
    });
  });
});

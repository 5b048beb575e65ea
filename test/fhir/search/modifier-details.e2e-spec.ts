import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, sorted } from './search-helpers';

// Three points of search.html the spec words loosely, each decided here:
// - #content: `_content` searches "the entire resource", so a resource without narrative is found by its
//   other text (codes' displays, notes, names); `_text` only reads the narrative.
// - #token `:text`: "the search parameter is tested against the text/display associated with the code";
//   as HAPI does, a case- and accent-insensitive prefix match on words: the words given, in order, the
//   last one a prefix, starting at a word start of the text/display (words split at anything not a letter
//   or digit, so "Hemoglobin A1c/Hemoglobin.total" has the words hemoglobin, a1c, hemoglobin, total).
// - #modifiers `:missing`: "true … resources that do not have a value for the parameter". A Reference
//   with only an `identifier` is a value (the element is present, and `:identifier` searches it), so it is
//   not missing.
describe('_content without narrative, token :text, reference :missing (search.html#content, #token, #modifiers)', () => {
  let t: TestApp;
  const o: Record<string, string> = {};
  const observation = (extra: Record<string, unknown>) => create(t, { resourceType: 'Observation', status: 'final', ...extra });
  beforeAll(async () => {
    t = await startTestApp();
    o.a1c = await observation({
      code: { coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood' }] },
      subject: { reference: 'Patient/p1' },
      note: [{ text: 'drawn after fasting' }],
    });
    o.text = await observation({ code: { text: 'Érythrocyte sedimentation rate' }, subject: { identifier: { system: 'urn:mrn', value: '77' } } });
    o.none = await observation({ code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } });
  });
  afterAll(async () => t.close());

  it('_content finds a resource without narrative by any of its text; _text does not', async () => {
    expect(await ids(t, 'Observation?_content=fasting')).toEqual([o.a1c]);
    expect(await ids(t, 'Observation?_content=hemoglobin')).toEqual([o.a1c]);
    expect(await ids(t, 'Observation?_content=sedimentation')).toEqual([o.text]);
    expect(await ids(t, 'Observation?_text=fasting')).toEqual([]);
  });

  it(':text matches words of the display or text, the last one as a prefix, from any word start', async () => {
    expect(await ids(t, 'Observation?code:text=a1c')).toEqual([o.a1c]);
    expect(await ids(t, 'Observation?code:text=HEMOGLOBIN%20A1')).toEqual([o.a1c]);
    expect(await ids(t, 'Observation?code:text=total')).toEqual([o.a1c]); // after a "."
    expect(await ids(t, 'Observation?code:text=hemoglobin%20total')).toEqual([o.a1c]); // "hemoglobin.total"
    expect(await ids(t, 'Observation?code:text=a1c%2Fhemo')).toEqual([o.a1c]);
    expect(await ids(t, 'Observation?code:text=blood')).toEqual([o.a1c]);
    expect(await ids(t, 'Observation?code:text=globin')).toEqual([]); // not a word start
    expect(await ids(t, 'Observation?code:text=a1c%20blood')).toEqual([]); // not consecutive words
    expect(await ids(t, 'Observation?code:text=erythro')).toEqual([o.text]); // accents ignored
    expect(await ids(t, 'Observation?code:text=rate,a1c')).toEqual(sorted([o.a1c, o.text]));
    expect(await ids(t, 'Observation?code:text=%2F')).toEqual([]); // no word at all
  });

  it(':missing on a reference: an identifier-only Reference is a value', async () => {
    expect(await ids(t, 'Observation?subject:missing=true')).toEqual([o.none]);
    expect(await ids(t, 'Observation?subject:missing=false')).toEqual(sorted([o.a1c, o.text]));
    expect(await ids(t, 'Observation?subject:identifier=urn:mrn|77')).toEqual([o.text]);
  });
});

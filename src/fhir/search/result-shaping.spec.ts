import * as fs from 'fs';
import * as path from 'path';
import { shapeResource } from './result-shaping';

/**
 * `_summary` / `_elements` (search.html §3.1.1.5.9–10): the shaped text must be the resource with
 * exactly the kept top-level elements, in their order, and the SUBSETTED tag (R4
 * v3-ObservationValue) added to meta when anything was removed; the stored text itself when not.
 * Checked on every R4 spec example against the elements the summary definitions list
 * (`isSummary` / `min > 0`, from the StructureDefinitions via the first shaping call).
 */
const EXAMPLES = path.join(__dirname, '../../../..', 'shared', 'fixtures', 'r4-examples');
const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };

function check(text: string, shaped: string, allowed: (key: string) => boolean): void {
  const original = JSON.parse(text);
  const out = JSON.parse(shaped);
  const expectedKeys = Object.keys(original).filter((k) => k === 'resourceType' || k === 'id' || k === 'meta' || allowed(k));
  if (expectedKeys.length === Object.keys(original).length) {
    expect(shaped).toBe(text);
    return;
  }
  const keys = Object.keys(out);
  expect(keys.filter((k) => k !== 'meta')).toEqual(expectedKeys.filter((k) => k !== 'meta'));
  for (const k of expectedKeys) if (k !== 'meta') expect(out[k]).toEqual(original[k]);
  expect(out.meta).toEqual({ ...(original.meta ?? {}), tag: [...(original.meta?.tag ?? []), SUBSETTED] });
}

describe('shapeResource', () => {
  const patient = JSON.stringify({
    resourceType: 'Patient',
    id: 'p',
    meta: { versionId: '2', tag: [{ code: 'x' }] },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">"x"</div>' },
    name: [{ family: 'Chalmers' }],
    birthDate: '1974-12-25',
    contact: [{ name: { family: 'du Marché' } }],
    _birthDate: { extension: [{ url: 'http://x', valueDateTime: '1974-12-25T14:35:45-05:00' }] },
  });

  it('returns the stored text when nothing is removed', () => {
    expect(shapeResource(patient, undefined, undefined)).toBe(patient);
    expect(shapeResource(patient, 'false', undefined)).toBe(patient);
    const bare = JSON.stringify({ resourceType: 'Patient', id: 'p', name: [{ family: 'A' }] });
    expect(shapeResource(bare, 'data', undefined)).toBe(bare);
  });

  it('_elements keeps the named elements (and `_x` primitive extensions), marks SUBSETTED in place', () => {
    const out = shapeResource(patient, undefined, ['birthDate']);
    expect(Object.keys(JSON.parse(out))).toEqual(['resourceType', 'id', 'meta', 'birthDate', '_birthDate']);
    check(patient, out, (k) => k === 'birthDate' || k === '_birthDate');
  });

  it('adds meta at the end when the resource had none', () => {
    const text = JSON.stringify({ resourceType: 'Basic', id: 'b', code: { text: 'c' }, subject: { reference: 'Patient/1' }, created: '2020-01-01' });
    const out = shapeResource(text, undefined, ['subject']);
    expect(Object.keys(JSON.parse(out))).toEqual(['resourceType', 'id', 'code', 'subject', 'meta']);
    check(text, out, (k) => k === 'subject' || k === 'code'); // code is mandatory (min 1) in Basic
  });

  it('a choice element covers its typed keys, no element a longer name (json.html#choice; search.html#elements)', () => {
    const request = JSON.stringify({ resourceType: 'ServiceRequest', id: 's', status: 'active', statusReason: 'x', asNeededCodeableConcept: { text: 'pain' }, occurrenceDateTime: '2020' });
    expect(Object.keys(JSON.parse(shapeResource(request, undefined, ['asNeeded', 'status'])))).toEqual(['resourceType', 'id', 'status', 'asNeededCodeableConcept', 'meta']);
    const encounter = JSON.stringify({ resourceType: 'Encounter', id: 'e', status: 'finished', class: { code: 'AMB' }, classHistory: [{ class: { code: 'EMER' } }], statusHistory: [] });
    expect(Object.keys(JSON.parse(shapeResource(encounter, 'true', undefined)))).toEqual(['resourceType', 'id', 'status', 'class', 'meta']);
  });

  it('_summary=true keeps the mandatory root elements R4 leaves unmarked (elementdefinition.html#ElementDefinition.isSummary: min 1 "must be marked as isSummary=true")', () => {
    const appointment = JSON.stringify({ resourceType: 'Appointment', id: 'a', status: 'booked', comment: 'x', participant: [{ status: 'accepted' }] });
    expect(Object.keys(JSON.parse(shapeResource(appointment, 'true', undefined)))).toEqual(['resourceType', 'id', 'status', 'participant', 'meta']);
  });

  (fs.existsSync(EXAMPLES) ? it : it.skip)('every R4 example: _summary=data, text, true and _elements as the definitions say', () => {
    const files = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(100);
    let subsetted = 0;
    for (const f of files) {
      const text = JSON.stringify(JSON.parse(fs.readFileSync(path.join(EXAMPLES, f), 'utf8')));
      const data = shapeResource(text, 'data', undefined);
      check(text, data, (k) => k !== 'text');
      // `text` keeps text and the mandatory elements: every element it keeps besides text is one _elements=<nothing> keeps
      const mandatoryOnly = JSON.parse(shapeResource(text, undefined, []));
      const textSummary = shapeResource(text, 'text', undefined);
      check(text, textSummary, (k) => k === 'text' || k in mandatoryOnly);
      const summary = shapeResource(text, 'true', undefined);
      const summaryKeys = new Set(Object.keys(JSON.parse(summary)));
      check(text, summary, (k) => summaryKeys.has(k));
      if (summary !== text) subsetted++;
    }
    expect(subsetted).toBeGreaterThan(100);
  });
});

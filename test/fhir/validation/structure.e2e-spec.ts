import type { OperationOutcome } from 'fhir/r4';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

/**
 * Structural validation of every write against the base R4 definitions
 * (json.html, datatypes.html, resource.html, narrative.html, extensibility.html).
 * Malformed content (unknown elements, wrong JSON types, bad formats) is 400;
 * content that breaks a rule (cardinality, bindings, invariants) is 422.
 * Either way nothing is stored and the OperationOutcome names the element.
 */
describe('structural validation of writes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const post = (resource: Record<string, unknown>) =>
    t.http.post(`/fhir/${resource.resourceType}`).set('Content-Type', FHIR_JSON).send(resource);

  /** The answer is `status` with an issue of `code` at exactly `expression`. */
  async function rejected(resource: Record<string, unknown>, status: number, code: string, expression: string) {
    const res = await post(resource);
    const oo = res.body as OperationOutcome;
    const found = oo.issue?.find((i) => i.expression?.includes(expression));
    if (res.status !== status || !found || found.code !== code) {
      throw new Error(`expected ${status} ${code} at ${expression}, got ${res.status} ${JSON.stringify(oo.issue)}`);
    }
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(found.severity).toBe('error');
    expect(found.diagnostics).toBeTruthy();
    return found;
  }

  const patient = { resourceType: 'Patient', name: [{ family: 'Chalmers', given: ['Peter', 'James'] }], gender: 'male' };

  it('accepts a valid resource (control)', async () => {
    expect((await post(patient)).status).toBe(201);
  });

  describe('malformed content: 400 (json.html)', () => {
    it('unknown element', async () => {
      const i = await rejected({ ...patient, nickname: 'Pete' }, 400, 'structure', 'Patient.nickname');
      expect(i.diagnostics).toMatch(/unknown element "nickname"/);
    });

    it('unknown element in a nested data type', async () => {
      await rejected({ ...patient, name: [{ family: 'X', first: 'Y' }] }, 400, 'structure', 'Patient.name[0].first');
    });

    it('a list given as a single object, a single value given as a list', async () => {
      await rejected({ ...patient, name: { family: 'X' } }, 400, 'structure', 'Patient.name');
      await rejected({ ...patient, gender: ['male'] }, 400, 'structure', 'Patient.gender');
      await rejected({ ...patient, name: [] }, 400, 'structure', 'Patient.name');
    });

    it('wrong JSON type of a primitive, with the index of the bad item', async () => {
      const i = await rejected({ ...patient, name: [{ given: ['Peter', 7] }] }, 400, 'structure', 'Patient.name[0].given[1]');
      expect(i.diagnostics).toMatch(/expected a JSON string/);
      await rejected({ ...patient, active: 'true' }, 400, 'structure', 'Patient.active');
      await rejected({ ...patient, name: ['Peter'] }, 400, 'structure', 'Patient.name[0]');
    });

    it.each([
      ['date', { birthDate: '1990-13-01' }, 'Patient.birthDate'],
      ['date not in the calendar', { birthDate: '2023-02-29' }, 'Patient.birthDate'],
      ['dateTime with a time but no zone', { deceasedDateTime: '2020-01-01T10:00:00' }, 'Patient.deceased.ofType(dateTime)'],
      ['integer out of 32-bit range', { multipleBirthInteger: 2147483648 }, 'Patient.multipleBirth.ofType(integer)'],
      ['integer that is not whole', { multipleBirthInteger: 1.5 }, 'Patient.multipleBirth.ofType(integer)'],
      ['uri with a space', { implicitRules: 'http://example.org/a b' }, 'Patient.implicitRules'],
      ['code with a double space', { language: 'en  US' }, 'Patient.language'],
      ['empty string', { name: [{ family: '' }] }, 'Patient.name[0].family'],
      ['base64Binary', { photo: [{ contentType: 'image/png', data: 'not base64!' }] }, 'Patient.photo[0].data'],
      ['positiveInt 0', { telecom: [{ system: 'phone', value: '1', rank: 0 }] }, 'Patient.telecom[0].rank'],
    ])('bad primitive format: %s', async (_name, extra, expression) => {
      await rejected({ ...patient, ...extra }, 400, 'structure', expression);
    });

    it('decimal as a string, instant without a zone', async () => {
      const obs = { resourceType: 'Observation', status: 'final', code: { text: 'weight' } };
      await rejected({ ...obs, valueQuantity: { value: '72.5' } }, 400, 'structure', 'Observation.value.ofType(Quantity).value');
      await rejected({ ...obs, issued: '2020-01-01T10:00:00' }, 400, 'structure', 'Observation.issued');
    });

    it('choice type: two variants at once, or an unknown type suffix', async () => {
      const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };
      await rejected({ ...obs, valueString: 'a', valueBoolean: true }, 400, 'structure', 'Observation.value.ofType(boolean)');
      await rejected({ ...obs, valueFoo: 'a' }, 400, 'structure', 'Observation.valueFoo');
      expect((await post({ ...obs, valueCodeableConcept: { text: 'ok' } })).status).toBe(201);
    });

    it('resourceType of a contained resource must be known; the contained resource is validated as its own type', async () => {
      await rejected({ ...patient, contained: [{ resourceType: 'Foo', id: 'a' }] }, 400, 'structure', 'Patient.contained[0].resourceType');
      await rejected(
        { ...patient, contained: [{ resourceType: 'Organization', id: 'o1', nam: 'x' }] },
        400,
        'structure',
        'Patient.contained[0].nam',
      );
      await rejected({ ...patient, contained: [{ resourceType: 'Organization', id: 'bad id!' }] }, 400, 'structure', 'Patient.contained[0].id');
    });

    it('Bundle.entry.resource and Parameters.parameter.resource are validated as their own types', async () => {
      const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { ...patient, birthDate: '1990-1-1' } }] };
      await rejected(bundle, 400, 'structure', 'Bundle.entry[0].resource.birthDate');
      const params = { resourceType: 'Parameters', parameter: [{ name: 'p', resource: { resourceType: 'Patient', gender: 5 } }] };
      await rejected(params, 400, 'structure', 'Parameters.parameter[0].resource.gender');
    });
  });

  describe('primitive extensions: _element (json.html §2.6.2.3)', () => {
    it('accepts extensions on primitives, also in arrays with null placeholders', async () => {
      const res = await post({
        ...patient,
        birthDate: '1970-03-30',
        _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1970-03-30T10:00:00Z' }] },
        name: [{ given: ['Peter', null], _given: [null, { extension: [{ url: 'http://example.org/x', valueString: 'J' }] }] }],
      });
      expect(res.status).toBe(201);
      expect(res.body._birthDate.extension[0].valueDateTime).toBe('1970-03-30T10:00:00Z');
    });

    it('rejects _element on a non-primitive, bad contents, and misaligned arrays', async () => {
      await rejected({ ...patient, _name: [{ id: 'x' }] }, 400, 'structure', 'Patient._name');
      await rejected({ ...patient, birthDate: '1970-03-30', _birthDate: { foo: 1 } }, 400, 'structure', 'Patient.birthDate.foo');
      await rejected({ ...patient, name: [{ given: ['a', null], _given: [null] }] }, 400, 'structure', 'Patient.name[0].given');
      await rejected({ ...patient, name: [{ given: ['a', null], _given: [null, null] }] }, 400, 'structure', 'Patient.name[0].given[1]');
    });
  });

  describe('rule violations: 422', () => {
    it('minimum cardinality (Observation.status 1..1)', async () => {
      const i = await rejected({ resourceType: 'Observation', code: { text: 'x' } }, 422, 'required', 'Observation.status');
      expect(i.diagnostics).toMatch(/required/);
    });

    it('minimum cardinality inside a backbone element (Patient.link.other)', async () => {
      await rejected({ ...patient, link: [{ type: 'seealso' }] }, 422, 'required', 'Patient.link[0].other');
    });

    it('contentReference elements are validated like the element they refer to (Questionnaire.item.item)', async () => {
      const q = {
        resourceType: 'Questionnaire',
        status: 'active',
        item: [{ linkId: '1', type: 'group', item: [{ linkId: '1.1', type: 'string' }, { type: 'string' }] }],
      };
      await rejected(q, 422, 'required', 'Questionnaire.item[0].item[1].linkId');
      const q2 = { ...q, item: [{ linkId: '1', type: 'group', item: [{ linkId: '1.1', type: 'string', colour: 'red' }] }] };
      await rejected(q2, 400, 'structure', 'Questionnaire.item[0].item[0].colour');
    });

    it('required bindings: code, CodeableConcept', async () => {
      const i = await rejected({ ...patient, gender: 'boy' }, 422, 'code-invalid', 'Patient.gender');
      expect(i.diagnostics).toMatch(/administrative-gender/);
      await rejected(
        {
          resourceType: 'Condition',
          subject: { reference: 'Patient/p1' },
          clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'gone' }] },
        },
        422,
        'code-invalid',
        'Condition.clinicalStatus.coding',
      );
    });

    it('Extension: url required, value[x] or nested extensions but not both (ext-1)', async () => {
      await rejected({ ...patient, extension: [{ valueString: 'x' }] }, 422, 'required', 'Patient.extension[0].url');
      const both = { url: 'http://example.org/e', valueString: 'x', extension: [{ url: 'a', valueString: 'y' }] };
      const i = await rejected({ ...patient, extension: [both] }, 422, 'invariant', 'Patient.extension[0]');
      expect(i.diagnostics).toMatch(/ext-1/);
    });

    it('Reference target types (references.html)', async () => {
      const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Medication/m1' } };
      const i = await rejected(obs, 422, 'value', 'Observation.subject.reference');
      expect(i.diagnostics).toMatch(/Medication/);
      expect((await post({ ...obs, subject: { reference: 'Patient/p1' } })).status).toBe(201);
    });

    it('Narrative.div: XHTML, no active content (txt-1), some content (txt-2)', async () => {
      const text = (div: string) => ({ ...patient, text: { status: 'generated', div } });
      const ns = 'xmlns="http://www.w3.org/1999/xhtml"';
      expect((await post(text(`<div ${ns}><p>Peter &amp; <b>James</b></p><br/></div>`))).status).toBe(201);
      await rejected(text(`<div ${ns}><script>alert(1)</script></div>`), 422, 'invariant', 'Patient.text.div');
      await rejected(text(`<div ${ns}><a href="#" onclick="x()">a</a></div>`), 422, 'invariant', 'Patient.text.div');
      await rejected(text(`<div ${ns}> </div>`), 422, 'invariant', 'Patient.text.div');
      await rejected(text(`<div ${ns}><p>unclosed</div>`), 400, 'structure', 'Patient.text.div');
      await rejected(text('<div><p>no namespace</p></div>'), 400, 'structure', 'Patient.text.div');
      await rejected(text('plain text'), 400, 'structure', 'Patient.text.div');
    });

    it('contained resources: no nested contained (dom-2), no versionId (dom-4)', async () => {
      const org = { resourceType: 'Organization', id: 'o1', name: 'x', meta: { versionId: '3' } };
      await rejected({ ...patient, contained: [org] }, 422, 'invariant', 'Patient.contained[0].meta');
    });
  });

  it('update and patch are validated too, and nothing is stored on rejection', async () => {
    const created = await post({ resourceType: 'Basic', code: { text: 'v1' } });
    const id = created.body.id;
    const put = await t.http.put(`/fhir/Basic/${id}`).set('Content-Type', FHIR_JSON).send({ resourceType: 'Basic', id, code: { txt: 'v2' } });
    expect(put.status).toBe(400);
    expect(put.body.issue[0].expression).toEqual(['Basic.code.txt']);
    const patch = await t.http
      .patch(`/fhir/Basic/${id}`)
      .set('Content-Type', 'application/json-patch+json')
      .send([{ op: 'remove', path: '/code' }]);
    expect(patch.status).toBe(422);
    expect(patch.body.issue[0].expression).toEqual(['Basic.code']);
    const history = await t.http.get(`/fhir/Basic/${id}/_history`);
    expect(history.body.entry).toHaveLength(1);
    const failed = await post({ resourceType: 'Basic', code: { text: 'x' }, created: 'yesterday' });
    expect(failed.status).toBe(400);
    const all = await t.http.get('/fhir/Basic/_history');
    expect(all.body.entry).toHaveLength(1);
  });
});

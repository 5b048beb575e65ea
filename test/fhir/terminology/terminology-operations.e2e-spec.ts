import * as fs from 'fs';
import * as path from 'path';
import type { CodeSystem, ValueSet } from 'fhir/r4';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { coreTerminology, TerminologyOracle } from './terminology-oracle';

const US_CORE = path.resolve(__dirname, '../../../../shared/fixtures/us-core/6.1.0');
const present = fs.existsSync(US_CORE);
if (!present) console.warn(`skipping the terminology operations over US Core 6.1.0: ${US_CORE} is absent`);
const describeIfUsCore = present ? describe : describe.skip;

/**
 * The terminology operations over the US Core 6.1.0 CodeSystems and ValueSets (stored here with PUT)
 * and the R4 core ones the server ships: ValueSet/$expand (valueset-operation-expand.html),
 * CodeSystem/$lookup, ValueSet/ and CodeSystem/$validate-code, CodeSystem/$subsumes. Every expected
 * answer is computed by the test's own reading of the compose and concepts (terminology-oracle.ts).
 */
describeIfUsCore('terminology operations (R4 terminology-service.html)', () => {
  let t: TestApp;
  const oracle = new TerminologyOracle();
  const stored: (CodeSystem | ValueSet)[] = [];
  const post = (url: string, body: object) => t.http.post(`/fhir/${url}`).set('Content-Type', FHIR_JSON).send(body);
  const param = (body: any, name: string) => body.parameter?.find((p: any) => p.name === name);

  beforeAll(async () => {
    t = await startTestApp();
    for (const r of coreTerminology()) oracle.add(r);
    for (const f of fs.readdirSync(US_CORE).filter((f) => /^(CodeSystem|ValueSet)-.*\.json$/.test(f)).sort()) {
      const r = JSON.parse(fs.readFileSync(path.join(US_CORE, f), 'utf8')) as CodeSystem | ValueSet;
      const res = await t.http.put(`/fhir/${r.resourceType}/${r.id}`).set('Content-Type', FHIR_JSON).send(r);
      expect([200, 201]).toContain(res.status);
      oracle.add(r);
      stored.push(r);
    }
  });
  afterAll(async () => t.close());

  it('the CapabilityStatement lists each operation on its type with its R4 definition (capabilitystatement.html)', async () => {
    const rest = (await t.http.get('/fhir/metadata')).body.rest[0];
    const ops = (type: string) => rest.resource.find((r: any) => r.type === type).operation.map((o: any) => `${o.name} ${o.definition}`);
    const r4 = (type: string, code: string) => `${code} http://hl7.org/fhir/OperationDefinition/${type}-${code}`;
    expect(ops('ValueSet')).toEqual(expect.arrayContaining([r4('ValueSet', 'expand'), r4('ValueSet', 'validate-code')]));
    expect(ops('CodeSystem')).toEqual(expect.arrayContaining([r4('CodeSystem', 'lookup'), r4('CodeSystem', 'validate-code'), r4('CodeSystem', 'subsumes')]));
    expect(ops('Composition')).toEqual(expect.arrayContaining([r4('Composition', 'document')]));
    expect(ops('Patient')).not.toEqual(expect.arrayContaining([expect.stringMatching(/^(expand|lookup|subsumes) /)]));
  });

  it('$expand of every US Core ValueSet: exactly the codes of its compose with their displays, or 400 where it names codes only an external terminology server knows', async () => {
    let expanded = 0;
    for (const vs of stored.filter((r): r is ValueSet => r.resourceType === 'ValueSet')) {
      const expected = oracle.expand(vs.url!);
      const res = await t.http.get(`/fhir/ValueSet/$expand?url=${encodeURIComponent(vs.url!)}`);
      if (!expected) {
        expect({ url: vs.url, status: res.status }).toEqual({ url: vs.url, status: 400 });
        continue;
      }
      expanded++;
      expect({ url: vs.url, status: res.status }).toEqual({ url: vs.url, status: 200 });
      const contains = res.body.expansion.contains.map((c: any) => [`${c.system}|${c.code}`, c.display]);
      expect({ url: vs.url, contains: new Map(contains) }).toEqual({ url: vs.url, contains: expected });
      expect(res.body.expansion.total).toBe(expected.size);
      // the instance answers the same
      const byId = await t.http.get(`/fhir/ValueSet/${vs.id}/$expand`);
      expect(byId.body.expansion.contains).toEqual(res.body.expansion.contains);
    }
    expect(expanded).toBeGreaterThan(5);
  });

  it('$expand filter, offset and count; a ValueSet given in the body; a core ValueSet that is not stored', async () => {
    const url = 'http://hl7.org/fhir/ValueSet/administrative-gender';
    const expected = oracle.expand(url)!;
    const all = await t.http.get(`/fhir/ValueSet/$expand?url=${encodeURIComponent(url)}`);
    expect(new Map(all.body.expansion.contains.map((c: any) => [`${c.system}|${c.code}`, c.display]))).toEqual(expected);
    const word = [...expected.values()][0]!.slice(0, 3).toLowerCase();
    const filtered = await t.http.get(`/fhir/ValueSet/$expand?url=${encodeURIComponent(url)}&filter=${word}`);
    const matching = [...expected].filter(([k, d]) => k.split('|')[1].toLowerCase().includes(word) || (d ?? '').toLowerCase().includes(word));
    expect(filtered.body.expansion.contains.map((c: any) => `${c.system}|${c.code}`)).toEqual(matching.map(([k]) => k));
    const page = await t.http.get(`/fhir/ValueSet/$expand?url=${encodeURIComponent(url)}&offset=1&count=2`);
    expect(page.body.expansion.contains).toEqual(all.body.expansion.contains.slice(1, 3));
    expect([page.body.expansion.total, page.body.expansion.offset]).toEqual([expected.size, 1]);
    const vs = { resourceType: 'ValueSet', status: 'active', compose: { include: [{ system: 'http://hl7.org/fhir/administrative-gender', concept: [{ code: 'other' }] }] } };
    const inline = await post('ValueSet/$expand', { resourceType: 'Parameters', parameter: [{ name: 'valueSet', resource: vs }] });
    expect(inline.body.expansion.contains).toEqual([{ system: 'http://hl7.org/fhir/administrative-gender', code: 'other', display: expected.get('http://hl7.org/fhir/administrative-gender|other') }]);
    expect((await t.http.get('/fhir/ValueSet/$expand?url=http://example.org/none')).status).toBe(404);
    expect((await t.http.get('/fhir/ValueSet/$expand')).status).toBe(400);
    expect((await t.http.get(`/fhir/ValueSet/$expand?url=${encodeURIComponent(url)}&count=x`)).status).toBe(400);
  });

  it('$lookup and CodeSystem/$validate-code of every concept of the US Core CodeSystems; unknown codes are 404 / result false', async () => {
    for (const cs of stored.filter((r): r is CodeSystem => r.resourceType === 'CodeSystem')) {
      const concepts = oracle.concepts(cs.url!)!;
      for (const [code, c] of concepts) {
        const res = await t.http.get(`/fhir/CodeSystem/$lookup?system=${encodeURIComponent(cs.url!)}&code=${encodeURIComponent(code)}`);
        expect({ code, status: res.status }).toEqual({ code, status: 200 });
        expect(param(res.body, 'display')?.valueString).toBe(c.display);
        expect(param(res.body, 'name')?.valueString).toBe(cs.name);
        const valid = await t.http.get(`/fhir/CodeSystem/$validate-code?url=${encodeURIComponent(cs.url!)}&code=${encodeURIComponent(code)}`);
        expect([code, param(valid.body, 'result')?.valueBoolean]).toEqual([code, true]);
      }
      expect((await t.http.get(`/fhir/CodeSystem/$lookup?system=${encodeURIComponent(cs.url!)}&code=not-a-code`)).status).toBe(404);
      const invalid = await t.http.get(`/fhir/CodeSystem/${cs.id}/$validate-code?code=not-a-code`);
      expect(param(invalid.body, 'result').valueBoolean).toBe(false);
      expect(param(invalid.body, 'message').valueString).toContain('not-a-code');
    }
  });

  it('ValueSet/$validate-code: members and non-members of every enumerable US Core ValueSet; display checked; coding and codeableConcept', async () => {
    for (const vs of stored.filter((r): r is ValueSet => r.resourceType === 'ValueSet')) {
      const expected = oracle.expand(vs.url!);
      if (!expected) continue;
      const [member, display] = [...expected][0];
      const [system, code] = [member.slice(0, member.lastIndexOf('|')), member.slice(member.lastIndexOf('|') + 1)];
      const ask = (q: string) => t.http.get(`/fhir/ValueSet/$validate-code?url=${encodeURIComponent(vs.url!)}&${q}`);
      const yes = await ask(`system=${encodeURIComponent(system)}&code=${encodeURIComponent(code)}`);
      expect([vs.url, param(yes.body, 'result').valueBoolean]).toEqual([vs.url, true]);
      const no = await ask(`system=${encodeURIComponent(system)}&code=not-a-member`);
      expect([vs.url, param(no.body, 'result').valueBoolean]).toEqual([vs.url, false]);
      if (display) {
        const wrong = await ask(`system=${encodeURIComponent(system)}&code=${encodeURIComponent(code)}&display=${encodeURIComponent(`${display} (wrong)`)}`);
        expect([param(wrong.body, 'result').valueBoolean, param(wrong.body, 'display').valueString]).toEqual([false, display]);
      }
      const concept = await post(`ValueSet/${vs.id}/$validate-code`, {
        resourceType: 'Parameters',
        parameter: [{ name: 'codeableConcept', valueCodeableConcept: { coding: [{ system: 'urn:x', code: 'y' }, { system, code }] } }],
      });
      expect(param(concept.body, 'result').valueBoolean).toBe(true);
    }
    expect((await t.http.get('/fhir/ValueSet/$validate-code?url=http://hl7.org/fhir/ValueSet/administrative-gender&code=male')).status).toBe(400);
  });

  it('$subsumes over a core CodeSystem with an is-a hierarchy, every pair of its codes (codesystem-operation-subsumes.html)', async () => {
    const url = 'http://hl7.org/fhir/issue-type';
    const concepts = oracle.concepts(url)!;
    const codes = [...concepts.keys()];
    for (const a of codes.slice(0, 12)) {
      for (const b of codes) {
        const expected = a === b ? 'equivalent' : concepts.get(a)!.below.has(b) ? 'subsumes' : concepts.get(b)!.below.has(a) ? 'subsumed-by' : 'not-subsumed';
        const res = await t.http.get(`/fhir/CodeSystem/$subsumes?system=${encodeURIComponent(url)}&codeA=${a}&codeB=${b}`);
        expect([a, b, param(res.body, 'outcome')?.valueCode]).toEqual([a, b, expected]);
      }
    }
    expect((await t.http.get(`/fhir/CodeSystem/$subsumes?system=${encodeURIComponent(url)}&codeA=invalid&codeB=nonsense`)).status).toBe(400);
  });

  it('a stored CodeSystem with parent properties: $subsumes and $lookup (parent, child) at instance level; as batch entries too', async () => {
    const cs = {
      resourceType: 'CodeSystem',
      url: `http://example.org/cs/${Date.now()}`,
      name: 'Tree',
      status: 'active',
      content: 'complete',
      property: [{ code: 'parent', uri: 'http://hl7.org/fhir/concept-properties#parent', type: 'code' }],
      concept: [
        { code: 'root', display: 'Root' },
        { code: 'mid', display: 'Middle', property: [{ code: 'parent', valueCode: 'root' }] },
        { code: 'leaf', display: 'Leaf', property: [{ code: 'parent', valueCode: 'mid' }] },
      ],
    };
    const id = (await post('CodeSystem', cs)).body.id;
    const sub = await t.http.get(`/fhir/CodeSystem/${id}/$subsumes?codeA=root&codeB=leaf`);
    expect(param(sub.body, 'outcome').valueCode).toBe('subsumes');
    const res = await t.http.post('/fhir').set('Content-Type', FHIR_JSON).send({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `CodeSystem/$subsumes?system=${encodeURIComponent(cs.url)}&codeA=leaf&codeB=root` } },
        { request: { method: 'GET', url: `CodeSystem/${id}/$lookup?code=mid` } },
      ],
    });
    expect(param(res.body.entry[0].resource, 'outcome').valueCode).toBe('subsumed-by');
    const lookup = res.body.entry[1].resource;
    expect(param(lookup, 'display').valueString).toBe('Middle');
    const props = lookup.parameter.filter((p: any) => p.name === 'property').map((p: any) => [p.part[0].valueCode, p.part[1].valueCode]);
    expect(props).toEqual(expect.arrayContaining([['parent', 'root']]));
  });
});

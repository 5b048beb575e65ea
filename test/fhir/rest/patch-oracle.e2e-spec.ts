import * as fs from 'fs';
import { randomBytes } from 'crypto';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { applyJsonPatch, clone, failingPatch, generatePatch, jsonEqual, normalize, Op, PatchError, pickExamples, R4_EXAMPLES, REQUIRED } from './patch-oracle-lib';
import { prng } from '../../helpers/prng';

/**
 * Oracle sweep of PATCH (R4 http.html#patch, §3.1.0.5) over FHIR R4 spec examples. JSON Patch (RFC 6902):
 * seeded patches made from each resource's own content, the expected result computed by the test's own
 * RFC 6902 applier (patch-oracle-lib.ts); FHIRPath Patch (R4 fhirpatch.html): the expected result written
 * by hand for each operation. Every answer is compared with the oracle modulo meta.versionId/lastUpdated,
 * then read back; a refused patch must leave the resource as it was (same version).
 * README (REST table): "200; 422 when the patch cannot apply or changes `id`".
 */
const present = fs.existsSync(R4_EXAMPLES);
if (!present) console.warn(`skipping the PATCH oracle: ${R4_EXAMPLES} not found`);

const JSON_PATCH = 'application/json-patch+json';
const COUNT = 80;

type Item = { type: string; id: string; current: any };

/** The first place two JSON values differ (for a readable failure). */
function diff(a: any, b: any, at = ''): string | undefined {
  if (jsonEqual(a, b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = diff(a[k], b[k], `${at}/${k}`);
      if (d) return d;
    }
  }
  return `${at || '/'}: server ${JSON.stringify(a)?.slice(0, 160)} != oracle ${JSON.stringify(b)?.slice(0, 160)}`;
}

const op = (type: string, path: string, more: object[] = []) => ({
  name: 'operation',
  part: [{ name: 'type', valueCode: type }, { name: 'path', valueString: path }, ...more],
});

(present ? describe : describe.skip)('PATCH oracle over the R4 examples (http.html#patch, RFC 6902, fhirpatch.html)', () => {
  let t: TestApp;
  const items: Item[] = [];
  const prefix = `po${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const url = (i: Item) => `/fhir/${i.type}/${i.id}`;
  const jsonPatch = (i: Item, ops: unknown, ifMatch?: string) => {
    const req = t.http.patch(url(i)).set('Content-Type', JSON_PATCH);
    return (ifMatch ? req.set('If-Match', ifMatch) : req).send(JSON.stringify(ops));
  };
  const fhirPatch = (i: Item, parameter: object[]) => t.http.patch(url(i)).set('Content-Type', FHIR_JSON).send({ resourceType: 'Parameters', parameter });
  const why = (r: any) => `${r.status} ${r.body?.issue?.map((x: any) => x.diagnostics).join('; ') ?? ''}`;

  /** A refused patch wrote nothing: the read is the last known version, meta included. */
  async function unchanged(i: Item, what: string, problems: string[]) {
    const g = await t.http.get(url(i));
    if (g.status !== 200 || !jsonEqual(g.body, i.current)) problems.push(`${url(i)} ${what}: changed by a refused patch (${diff(g.body, i.current)})`);
  }

  /** A patch that must apply: 200, the oracle's content, version + 1, read back the same. */
  async function applied(i: Item, r: any, expected: any, what: string, problems: string[]) {
    if (r.status !== 200) return void problems.push(`${url(i)} ${what}: ${why(r)}`);
    const d = diff(normalize(r.body), normalize(expected));
    if (d) problems.push(`${url(i)} ${what}: ${d}`);
    if (Number(r.body.meta?.versionId) !== Number(i.current.meta.versionId) + 1) problems.push(`${url(i)} ${what}: versionId ${r.body.meta?.versionId}`);
    const g = await t.http.get(url(i));
    if (!jsonEqual(g.body, r.body)) problems.push(`${url(i)} ${what}: read back differs (${diff(g.body, r.body)})`);
    i.current = g.body;
  }

  beforeAll(async () => {
    t = await startTestApp();
    const refused: string[] = [];
    for (const [n, ex] of pickExamples(COUNT + 30).entries()) {
      if (items.length === COUNT) break;
      const id = `${prefix}-${n}`;
      const r = await t.http.put(`/fhir/${ex.resourceType}/${id}`).send({ ...ex, id });
      if (r.status === 200 || r.status === 201) items.push({ type: ex.resourceType, id, current: r.body });
      else refused.push(`${ex.resourceType}/${ex.id}: ${why(r)}`);
    }
    if (refused.length) console.warn(`PATCH oracle: ${refused.length} examples not created:\n${refused.join('\n')}`);
  });
  afterAll(() => t?.close());

  it('creates the examples (http.html#update as create) to patch', () => {
    expect(items.length).toBe(COUNT);
    expect(new Set(items.map((i) => i.type)).size).toBeGreaterThan(30);
  });

  it('http.html#patch + RFC 6902 §4 (add/remove/replace/move/copy/test, RFC 6901 pointers): seeded patches equal the oracle', async () => {
    const problems: string[] = [];
    const seen: Record<string, number> = {};
    for (const [n, i] of items.entries()) {
      const { ops: patch, expected } = generatePatch(i.current, prng(20261129 + n), `${prefix}-${n}`);
      for (const o of patch) {
        const kind = o.op + (o.path.endsWith('/-') ? ' -' : '') + (o.path.includes('~') ? ' ~escape' : '');
        seen[kind] = (seen[kind] ?? 0) + 1;
      }
      await applied(i, await jsonPatch(i, patch), expected, `JSON Patch ${JSON.stringify(patch).slice(0, 300)}`, problems);
    }
    expect(problems).toEqual([]);
    // every RFC 6902 operation, the "-" index and ~0/~1 escapes are in the sweep
    for (const kind of ['add', 'add -', 'remove', 'replace', 'move', 'copy', 'copy -', 'test', 'add ~escape', 'test ~escape', 'remove ~escape']) {
      expect([kind, seen[kind] ?? 0]).toEqual([kind, expect.any(Number)]);
      expect(seen[kind]).toBeGreaterThan(2);
    }
  });

  it('RFC 6902 §5 error handling + http.html#patch: a patch that cannot apply (failing test, bad location) is 422 and writes nothing', async () => {
    const problems: string[] = [];
    const kinds = new Set<string>();
    for (const [n, i] of items.entries()) {
      const f = failingPatch(i.current, n, prefix);
      if (!f) continue;
      expect(() => applyJsonPatch(i.current, f.ops)).toThrow(PatchError); // the expectation itself, per the oracle
      kinds.add(f.why);
      const r = await jsonPatch(i, f.ops);
      if (r.status !== 422) problems.push(`${url(i)} ${f.why}: expected 422, got ${why(r)}`);
      await unchanged(i, f.why, problems);
    }
    expect(problems).toEqual([]);
    expect(kinds.size).toBe(6);
  });

  it('http.html#patch (README: 422 when the patch changes id): a patch may not change id or resourceType', async () => {
    const problems: string[] = [];
    for (const i of items.filter((_, n) => n % 10 === 0)) {
      const patches: Op[][] = [
        [{ op: 'replace', path: '/id', value: `${i.id}-other` }],
        [{ op: 'remove', path: '/id' }],
        [{ op: 'move', from: '/id', path: '/implicitRules' }],
        [{ op: 'replace', path: '/resourceType', value: i.type === 'Basic' ? 'Patient' : 'Basic' }],
        [{ op: 'copy', from: '/resourceType', path: '/id' }],
        [{ op: 'remove', path: '' }],
        [{ op: 'replace', path: '', value: { resourceType: i.type } }],
        [{ op: 'replace', path: '', value: null }],
      ];
      for (const p of patches) {
        const r = await jsonPatch(i, p);
        if (r.status !== 422) problems.push(`${url(i)} ${JSON.stringify(p)}: expected 422, got ${why(r)}`);
        await unchanged(i, JSON.stringify(p), problems);
      }
    }
    expect(problems).toEqual([]);
  });

  /**
   * http.html#patch: "the server processes the resulting document as an Update operation; all the version and
   * error handling etc. apply" and http.html#create lists 400 ("failed basic FHIR validation rules") or 422
   * ("violated applicable FHIR profiles or server business rules"): an unknown element is 400 here, as it is for
   * a PUT (README: "the result is validated like any update"); a missing required element 422.
   */
  it('http.html#patch ("processed as an Update") + fhirpatch.html: an invalid result is refused (400/422 as an update), nothing written', async () => {
    const problems: string[] = [];
    let required = 0;
    for (const i of items) {
      const patches: [string, Op[], number[]][] = [[`unknown element`, [{ op: 'add', path: '/oracleUnknown', value: 'x' }], [400, 422]]];
      const el = REQUIRED[i.type];
      if (el && i.current[el] !== undefined) {
        required++;
        patches.push([`remove required ${i.type}.${el}`, [{ op: 'remove', path: `/${el}` }], [422]]);
      }
      for (const [what, p, statuses] of patches) {
        const r = await jsonPatch(i, p);
        if (!statuses.includes(r.status)) problems.push(`${url(i)} ${what}: expected ${statuses.join('/')}, got ${why(r)}`);
        await unchanged(i, what, problems);
      }
    }
    expect(problems).toEqual([]);
    expect(required).toBeGreaterThan(10);
  });

  it('RFC 6901 §4 + RFC 6902 §4.4: leading-zero or empty array indexes and a move into its own child are errors (422)', async () => {
    const problems: string[] = [];
    const i = items.find((x) => Array.isArray(x.current.identifier) && x.current.identifier.length >= 2)!;
    const patches: Op[][] = [
      [{ op: 'test', path: '/identifier/01', value: i.current.identifier[1] }],
      [{ op: 'replace', path: '/identifier/00', value: i.current.identifier[1] }],
      [{ op: 'remove', path: '/identifier/' }],
      [{ op: 'move', from: '/identifier', path: '/identifier/0/extension' }],
      [{ op: 'remove', path: '/identifier/-' }],
      [{ op: 'add', path: '/identifier/01', value: i.current.identifier[0] }],
      [{ op: 'copy', from: '/identifier/0', path: '/identifier/01' }],
      [{ op: 'test', path: '/identifier/', value: i.current.identifier[0] }],
      [{ op: 'test', path: '/identifier/01/value', value: i.current.identifier[1].value }],
      [{ op: 'add', path: '/identifier/-/value', value: 'x' }],
    ];
    for (const p of patches) {
      expect(() => applyJsonPatch(i.current, p)).toThrow(PatchError);
      const r = await jsonPatch(i, p);
      if (r.status !== 422) problems.push(`${JSON.stringify(p)}: expected 422, got ${why(r)}`);
      await unchanged(i, JSON.stringify(p), problems);
    }
    expect(problems).toEqual([]);
  });

  it('http.html#concurrency (§3.1.0.4.2): PATCH with a stale If-Match is 412 and writes nothing; the current version applies', async () => {
    const problems: string[] = [];
    for (const i of items.slice(0, 5)) {
      const v = Number(i.current.meta.versionId);
      const patch: Op[] = [{ op: 'add', path: '/implicitRules', value: `urn:if-match:${prefix}` }];
      const stale = await jsonPatch(i, patch, `W/"${v - 1}"`);
      if (stale.status !== 412) problems.push(`${url(i)} stale If-Match: ${why(stale)}`);
      await unchanged(i, 'stale If-Match', problems);
      await applied(i, await jsonPatch(i, patch, `W/"${v}"`), applyJsonPatch(i.current, patch), 'current If-Match', problems);
    }
    expect(problems).toEqual([]);
  });

  it('http.html#transaction + #patch: PATCH entries (JSON Patch as a Binary, FHIRPath Patch Parameters) apply in one transaction', async () => {
    const [a, b, c] = items.slice(10, 13);
    expect(c.current.implicitRules).toBeUndefined();
    const pa = generatePatch(a.current, prng(7), `${prefix}-tx-a`);
    const pb = generatePatch(b.current, prng(8), `${prefix}-tx-b`);
    const binary = (ops: Op[]) => ({ resourceType: 'Binary', contentType: JSON_PATCH, data: Buffer.from(JSON.stringify(ops)).toString('base64') });
    const uri = `urn:tx:${prefix}`;
    const r = await t.http.post('/fhir').send({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: binary(pa.ops), request: { method: 'PATCH', url: `${a.type}/${a.id}` } },
        { resource: binary(pb.ops), request: { method: 'PATCH', url: `${b.type}/${b.id}` } },
        { resource: { resourceType: 'Parameters', parameter: [op('add', c.type, [{ name: 'name', valueString: 'implicitRules' }, { name: 'value', valueUri: uri }])] }, request: { method: 'PATCH', url: `${c.type}/${c.id}` } },
      ],
    });
    expect(why(r)).toBe('200 ');
    expect(r.body.entry.map((e: any) => String(e.response.status).split(' ')[0])).toEqual(['200', '200', '200']);
    const problems: string[] = [];
    for (const [i, expected] of [[a, pa.expected], [b, pb.expected], [c, { ...c.current, implicitRules: uri }]] as [Item, any][]) {
      const g = await t.http.get(url(i));
      const d = diff(normalize(g.body), normalize(expected));
      if (d) problems.push(`${url(i)}: ${d}`);
      if (Number(g.body.meta.versionId) !== Number(i.current.meta.versionId) + 1) problems.push(`${url(i)}: versionId ${g.body.meta.versionId}`);
      i.current = g.body;
    }
    expect(problems).toEqual([]);
  });

  it('http.html#transaction (all or nothing): a PATCH entry that cannot apply fails the whole transaction, nothing written', async () => {
    const [a, b] = items.slice(13, 15);
    const binary = (ops: Op[]) => ({ resourceType: 'Binary', contentType: JSON_PATCH, data: Buffer.from(JSON.stringify(ops)).toString('base64') });
    const r = await t.http.post('/fhir').send({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: binary([{ op: 'add', path: '/implicitRules', value: `urn:lost:${prefix}` }]), request: { method: 'PATCH', url: `${a.type}/${a.id}` } },
        { resource: binary([{ op: 'test', path: '/resourceType', value: 'NotItsType' }]), request: { method: 'PATCH', url: `${b.type}/${b.id}` } },
      ],
    });
    expect(r.status).toBe(422);
    const problems: string[] = [];
    await unchanged(a, 'rolled-back transaction', problems);
    await unchanged(b, 'rolled-back transaction', problems);
    expect(problems).toEqual([]);
  });

  it('fhirpatch.html operations add, replace, insert, move, delete (a missing path deletes nothing) equal a hand-computed result', async () => {
    const problems: string[] = [];
    const used = new Set<string>();
    for (const [n, i] of items.entries()) {
      const T = i.type;
      const params: object[] = [];
      const exp = clone(i.current);
      const tag = `${prefix}-fp-${n}`;
      if (exp.implicitRules === undefined) {
        // add: a non-repeating element that does not exist yet; then replace it
        params.push(op('add', T, [{ name: 'name', valueString: 'implicitRules' }, { name: 'value', valueUri: `urn:add:${tag}` }]));
        params.push(op('replace', `${T}.implicitRules`, [{ name: 'value', valueUri: `urn:replace:${tag}` }]));
        exp.implicitRules = `urn:replace:${tag}`;
        used.add('add').add('replace');
      }
      const ids = exp.identifier;
      if (Array.isArray(ids) && !exp._identifier) {
        if (ids.length >= 2) {
          // move: within one list, source → destination
          params.push(op('move', `${T}.identifier`, [{ name: 'source', valueInteger: 0 }, { name: 'destination', valueInteger: ids.length - 1 }]));
          ids.push(ids.shift());
          used.add('move');
        }
        // insert at index 0; add appends to a repeating element
        params.push(op('insert', `${T}.identifier`, [{ name: 'index', valueInteger: 0 }, { name: 'value', valueIdentifier: { system: 'urn:oracle', value: `${tag}-0` } }]));
        params.push(op('add', T, [{ name: 'name', valueString: 'identifier' }, { name: 'value', valueIdentifier: { system: 'urn:oracle', value: `${tag}-z` } }]));
        ids.unshift({ system: 'urn:oracle', value: `${tag}-0` });
        ids.push({ system: 'urn:oracle', value: `${tag}-z` });
        used.add('insert');
      }
      if (Array.isArray(exp.note) && exp.note.length) {
        // delete one list item; deleting the only one leaves no element (FHIR JSON has no empty arrays)
        params.push(op('delete', `${T}.note[0]`));
        exp.note.splice(0, 1);
        if (!exp.note.length) delete exp.note;
        used.add('delete');
      }
      if (T === 'Patient' && exp.name?.[0]?.family !== undefined && !exp.name[0]._family) {
        params.push(op('replace', 'Patient.name[0].family', [{ name: 'value', valueString: `Oracle-${n}` }]));
        exp.name[0].family = `Oracle-${n}`;
      }
      if (T === 'Observation' && Array.isArray(exp.code?.coding)) {
        const coding = { system: 'urn:oracle', code: `c-${n}` };
        params.push(op('add', 'Observation.code', [{ name: 'name', valueString: 'coding' }, { name: 'value', valueCoding: coding }]));
        params.push(op('move', 'Observation.code.coding', [{ name: 'source', valueInteger: exp.code.coding.length }, { name: 'destination', valueInteger: 0 }]));
        exp.code.coding.unshift(coding);
        params.push(op('replace', 'Observation.status', [{ name: 'value', valueCode: 'amended' }]));
        exp.status = 'amended';
      }
      // delete of a path that selects nothing: not an error, no change ("Path of the element to delete (if found)")
      params.push(op('delete', `${T}.modifierExtension.where(url = 'urn:oracle:none')`));
      await applied(i, await fhirPatch(i, params), exp, `FHIRPath Patch ${JSON.stringify(params).slice(0, 300)}`, problems);
    }
    expect(problems).toEqual([]);
    expect([...used].sort()).toEqual(['add', 'delete', 'insert', 'move', 'replace']);
  });

  it('fhirpatch.html rules: add of an existing single element, a path selecting nothing or several, insert past the end are 422, nothing written', async () => {
    const problems: string[] = [];
    for (const i of items.filter((x) => Array.isArray(x.current.identifier) && x.current.identifier.length >= 2).slice(0, 6)) {
      const T = i.type;
      const cases: [string, object][] = [
        ['add of an element that exists (not repeating)', op('add', T, [{ name: 'name', valueString: 'implicitRules' }, { name: 'value', valueUri: 'urn:x' }])],
        ['replace where the path selects nothing', op('replace', `${T}.identifier[99].value`, [{ name: 'value', valueString: 'x' }])],
        ['add where the path selects nothing', op('add', `${T}.identifier[99]`, [{ name: 'name', valueString: 'value' }, { name: 'value', valueString: 'x' }])],
        ['replace where the path selects several', op('replace', `${T}.identifier`, [{ name: 'value', valueIdentifier: { value: 'x' } }])],
        ['insert past the end', op('insert', `${T}.identifier`, [{ name: 'index', valueInteger: i.current.identifier.length + 1 }, { name: 'value', valueIdentifier: { value: 'x' } }])],
        ['move outside the list', op('move', `${T}.identifier`, [{ name: 'source', valueInteger: 0 }, { name: 'destination', valueInteger: i.current.identifier.length }])],
      ];
      for (const [what, p] of cases) {
        const r = await fhirPatch(i, [op('replace', `${T}.implicitRules`, [{ name: 'value', valueUri: 'urn:lost' }]), p]);
        if (r.status !== 422) problems.push(`${url(i)} ${what}: expected 422, got ${why(r)}`);
        await unchanged(i, what, problems);
      }
    }
    expect(problems).toEqual([]);
  });
});

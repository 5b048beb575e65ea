import { randomBytes } from 'crypto';
import * as fs from 'fs';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { Example, loadExamples, MARKS, Model, ofTypeQuery, pool, R4_EXAMPLES, spread, tokenQuery, withValue } from './conditional-oracle-fixtures';

/**
 * Oracle sweep of the conditional interactions (R4 http.html#ccreate, #cond-update, #3.1.0.7.1
 * conditional delete, #transaction) over the real identifiers of the R4 spec examples
 * (../shared/fixtures/r4-examples, read in place). Each identifier value gets a per-run prefix and a
 * mark holding search.html#escaping's reserved characters, then its original characters; every
 * expected answer is computed from the test's model of what it wrote (conditional-oracle-fixtures.ts).
 * Mismatches are collected per check and reported together.
 */
const present = fs.existsSync(R4_EXAMPLES);
if (!present) console.log(`conditional-oracle: ${R4_EXAMPLES} is absent (../shared/fixtures not checked out): skipping the sweep`);

/** the README's default (`CONDITIONAL_DELETE_MAX=1`: several matches are 412) and a server that deletes up to 3 (R4 allows both) */
const CONFIGS: Record<string, string>[] = [{}, { CONDITIONAL_DELETE_MAX: '3' }];

(present ? describe.each(CONFIGS) : describe.skip.each(CONFIGS))('conditional interactions over R4 example identifiers (http.html, search.html#escaping), env %j', (env) => {
  let t: TestApp;
  let deleteMax: number;
  const RUN = `o${randomBytes(4).toString('hex')}`;
  const model = new Model();
  const examples = present ? loadExamples() : [];
  const skipped: string[] = [];
  /** examples that a plain create accepts, with the values this run gave them */
  const live: { ex: Example; i: number; value: string; value2: string }[] = [];
  const valueOf = (i: number, tag: string, ex: Example) => `${RUN}.${i}${MARKS[i % MARKS.length]}${tag}${ex.value}`;

  beforeAll(async () => {
    t = await startTestApp(env);
    deleteMax = t.config.conditionalDeleteMax;
  });
  afterAll(async () => {
    console.log(`conditional-oracle: ${examples.length} examples with identifier system+value, ${live.length} swept; skipped ${skipped.length}:\n  ${skipped.join('\n  ')}`);
    await t?.close();
  });

  const diag = (res: any) => res.body?.issue?.[0]?.diagnostics ?? '';
  /** sorted ids of the search's matches */
  const searchIds = async (type: string, query: string): Promise<{ status: number; ids: string[]; versions: Record<string, string> }> => {
    const res = await t.http.get(`/fhir/${type}?${query}&_count=100`);
    const entries = (res.body.entry ?? []).filter((e: any) => e.search?.mode !== 'include');
    const versions = Object.fromEntries(entries.map((e: any) => [e.resource.id, e.resource.meta?.versionId]));
    return { status: res.status, ids: entries.map((e: any) => e.resource.id).sort(), versions };
  };
  const want = (n: number) => (n === 0 ? 201 : n === 1 ? 200 : 412);

  /** conditional create of `ex` carrying `value`; the expected answer from the model (http.html#ccreate) */
  async function condCreate(ex: Example, value: string, bad: string[], tag: string) {
    const matches = model.match(ex.type, ex.system, value);
    const res = await t.http.post(`/fhir/${ex.type}`).set('Content-Type', FHIR_JSON).set('If-None-Exist', tokenQuery(ex.system, value)).send(withValue(ex, value));
    const expected = want(matches.length);
    if (res.status !== expected) {
      bad.push(`${ex.file} ${tag}: conditional create with ${matches.length} match(es) answered ${res.status}, expected ${expected} ${diag(res)}`);
      return res;
    }
    if (expected === 201) {
      model.add(ex.type, res.body.id, ex, value);
      if (res.headers.location !== `${t.baseUrl}/${ex.type}/${res.body.id}/_history/1`) bad.push(`${ex.file} ${tag}: Location ${res.headers.location}`);
    } else if (expected === 200) {
      const v = model.version(ex.type, matches[0]);
      if (res.body.id !== matches[0] || res.headers.etag !== `W/"${v}"` || res.body.meta?.versionId !== String(v))
        bad.push(`${ex.file} ${tag}: 200 with ${res.body.id} ${res.headers.etag}, expected ${matches[0]} W/"${v}" (no new version)`);
    } else if (res.body.resourceType !== 'OperationOutcome') bad.push(`${ex.file} ${tag}: 412 without an OperationOutcome`);
    return res;
  }

  /** conditional update `PUT [type]?identifier=…` (http.html#cond-update); with one match, every other call names its id in the body */
  async function condUpdate(ex: Example, value: string, i: number, bad: string[], tag: string) {
    const matches = model.match(ex.type, ex.system, value);
    const body = withValue(ex, value, matches.length === 1 && i % 2 === 0 ? matches[0] : false);
    const res = await t.http.put(`/fhir/${ex.type}?${tokenQuery(ex.system, value)}`).set('Content-Type', FHIR_JSON).send(body);
    const expected = want(matches.length);
    if (res.status !== expected) {
      bad.push(`${ex.file} ${tag}: conditional update with ${matches.length} match(es) answered ${res.status}, expected ${expected} ${diag(res)}`);
      return;
    }
    if (expected === 201) {
      if (matches.includes(res.body.id) || res.body.meta?.versionId !== '1') bad.push(`${ex.file} ${tag}: 201 reused ${res.body.id}`);
      model.add(ex.type, res.body.id, ex, value);
    } else if (expected === 200) {
      const v = model.bump(ex.type, matches[0]);
      if (res.body.id !== matches[0] || res.body.meta?.versionId !== String(v) || res.headers.location !== `${t.baseUrl}/${ex.type}/${matches[0]}/_history/${v}`)
        bad.push(`${ex.file} ${tag}: update gave ${res.body.id} v${res.body.meta?.versionId} (${res.headers.location}), expected ${matches[0]} v${v}`);
    }
  }

  /** conditional delete: README: none 204, up to CONDITIONAL_DELETE_MAX matches deleted, more 412 (R4 allows either for several) */
  async function condDelete(ex: Example, value: string, bad: string[], tag: string) {
    const matches = model.match(ex.type, ex.system, value);
    const res = await t.http.delete(`/fhir/${ex.type}?${tokenQuery(ex.system, value)}`);
    const expected = matches.length <= deleteMax ? 204 : 412;
    if (res.status !== expected) return bad.push(`${ex.file} ${tag}: conditional delete of ${matches.length} match(es) answered ${res.status}, expected ${expected} ${diag(res)}`);
    if (expected === 204)
      for (const id of matches) {
        model.remove(ex.type, id);
        const read = await t.http.get(`/fhir/${ex.type}/${id}`);
        if (read.status !== 410) bad.push(`${ex.file} ${tag}: ${ex.type}/${id} reads ${read.status} after the conditional delete, expected 410`);
      }
  }

  async function plainCreate(ex: Example, value: string) {
    const res = await t.http.post(`/fhir/${ex.type}`).set('Content-Type', FHIR_JSON).send(withValue(ex, value));
    if (res.status === 201) model.add(ex.type, res.body.id, ex, value);
    return res;
  }

  /** the search the conditions stand for finds exactly what the model holds (search.html#token, #escaping) */
  async function checkSearch(ex: Example, value: string, bad: string[], tag: string) {
    const queries: [string, string[]][] = [
      [tokenQuery(ex.system, value), model.match(ex.type, ex.system, value)],
      [tokenQuery(undefined, value), model.match(ex.type, undefined, value)],
    ];
    if (ex.ofType) queries.push([ofTypeQuery(ex.ofType, value), model.match(ex.type, undefined, value, ex.ofType)]);
    for (const [q, expected] of queries) {
      const got = await searchIds(ex.type, q);
      if (got.status !== 200 || JSON.stringify(got.ids) !== JSON.stringify(expected))
        bad.push(`${ex.file} ${tag}: GET ${ex.type}?${q} answered ${got.status} [${got.ids}], expected [${expected}]`);
      for (const id of expected) if (got.versions[id] !== String(model.version(ex.type, id))) bad.push(`${ex.file} ${tag}: ${id} is v${got.versions[id]}, expected v${model.version(ex.type, id)}`);
    }
  }

  it('http.html#ccreate: If-None-Exist creates (201) when nothing matches, then answers 200 with the same id and no new version', async () => {
    const { body: cs } = await t.http.get('/fhir/metadata');
    const withParam = new Set<string>(cs.rest[0].resource.filter((r: any) => r.searchParam?.some((p: any) => p.name === 'identifier')).map((r: any) => r.type));
    const bad: string[] = [];
    await pool(examples, 8, async (ex, i) => {
      if (!withParam.has(ex.type)) return void skipped.push(`${ex.file}: ${ex.type} has no identifier search parameter`);
      const value = valueOf(i, '-', ex);
      const firstBad: string[] = [];
      const first = await condCreate(ex, value, firstBad, 'first');
      if (first.status >= 400 && first.status < 500) {
        // refused: a plain create of the same content (another identifier value) tells whether the example itself is
        const plain = await plainCreate(ex, valueOf(i, '-probe-', ex));
        if (plain.status >= 400 && plain.status < 500) return void skipped.push(`${ex.file}: plain create ${plain.status} ${diag(plain)}`);
      }
      bad.push(...firstBad);
      if (first.status !== 201) return;
      live.push({ ex, i, value, value2: valueOf(i, '-u-', ex) });
      await condCreate(ex, value, bad, 'second');
    });
    live.sort((a, b) => a.i - b.i);
    expect(bad).toEqual([]);
    expect(live.length).toBeGreaterThan(0);
  });

  it('search.html#escaping / #token: identifier=sys|val (escaped, percent-encoded), =val and :of-type find exactly the one resource', async () => {
    const bad: string[] = [];
    await pool(live, 8, async ({ ex, value }) => checkSearch(ex, value, bad, 'search'));
    expect(bad).toEqual([]);
  });

  it('http.html#cond-update: PUT [type]?identifier= updates the one match (version +1) and creates (201) when none matches', async () => {
    const bad: string[] = [];
    await pool(live, 8, async ({ ex, i, value, value2 }) => {
      await condUpdate(ex, value, i, bad, 'one match');
      await condUpdate(ex, value2, i, bad, 'no match');
      await checkSearch(ex, value, bad, 'after update');
      await checkSearch(ex, value2, bad, 'after create-by-update');
    });
    expect(bad).toEqual([]);
  });

  it('http.html#ccreate / #cond-update: with a second resource carrying the identifier both answer 412 and change nothing', async () => {
    const bad: string[] = [];
    await pool(live, 8, async ({ ex, i, value }) => {
      const dup = await plainCreate(ex, value);
      if (dup.status !== 201) return void bad.push(`${ex.file}: plain create of the duplicate answered ${dup.status} ${diag(dup)}`);
      await condCreate(ex, value, bad, 'several');
      await condUpdate(ex, value, i, bad, 'several');
      await checkSearch(ex, value, bad, 'after 412s');
    });
    expect(bad).toEqual([]);
  });

  it('http.html conditional delete (§3.1.0.7.1, README CONDITIONAL_DELETE_MAX): several matches per the limit, then one, then none (204)', async () => {
    const bad: string[] = [];
    await pool(live, 8, async ({ ex, value, value2 }) => {
      await condDelete(ex, value, bad, 'several');
      const left = model.match(ex.type, ex.system, value);
      if (left.length > 1) {
        // keep the first: delete the others by id, then the condition matches one
        for (const id of left.slice(1)) {
          const res = await t.http.delete(`/fhir/${ex.type}/${id}`);
          if (res.status !== 204) bad.push(`${ex.file}: DELETE ${ex.type}/${id} answered ${res.status}`);
          model.remove(ex.type, id);
        }
        await condDelete(ex, value, bad, 'one');
      }
      await condDelete(ex, value, bad, 'none');
      await condDelete(ex, value2, bad, 'created by update');
      await checkSearch(ex, value, bad, 'after delete');
      // deleted: a conditional create makes a new resource again
      await condCreate(ex, value, bad, 'after delete');
    });
    expect(bad).toEqual([]);
  });

  it('http.html#transaction: ifNoneExist and PUT [type]?identifier= entries (20 examples) answer per entry, then a 412 rolls all back', async () => {
    const subset = spread(live, 20).map(({ ex, i }) => ({ ex, c: valueOf(i, '-tc-', ex), u: valueOf(i, '-tu-', ex) }));
    const bad: string[] = [];
    const entries = subset.flatMap(({ ex, c, u }) => [
      { resource: withValue(ex, c, false), request: { method: 'POST', url: ex.type, ifNoneExist: tokenQuery(ex.system, c) } },
      { resource: withValue(ex, u, false), request: { method: 'PUT', url: `${ex.type}?${tokenQuery(ex.system, u)}` } },
    ]);
    const post = () => t.http.post('/fhir').set('Content-Type', FHIR_JSON).send({ resourceType: 'Bundle', type: 'transaction', entry: entries });
    for (const round of ['first', 'second', 'with a duplicate']) {
      if (round === 'with a duplicate') expect((await plainCreate(subset[0].ex, subset[0].c)).status).toBe(201);
      const counts = subset.flatMap(({ ex, c, u }) => [model.match(ex.type, ex.system, c), model.match(ex.type, ex.system, u)]);
      const res = await post();
      if (counts.some((m) => m.length > 1)) {
        // http.html#transaction: all or nothing; a condition with several matches fails the whole Bundle
        if (res.status !== 412) bad.push(`${round}: transaction with an ambiguous condition answered ${res.status}, expected 412 ${diag(res)}`);
        continue;
      }
      if (res.status !== 200 || res.body.type !== 'transaction-response') {
        bad.push(`${round}: transaction answered ${res.status} ${diag(res)}`);
        continue;
      }
      res.body.entry.forEach((e: any, k: number) => {
        const { ex, c, u } = subset[k >> 1];
        const value = k % 2 ? u : c;
        const matches = counts[k];
        const [, type, id, version] = /^([A-Za-z]+)\/([^/]+)\/_history\/(\d+)$/.exec(e.response?.location ?? '') ?? [];
        const expectedStatus = want(matches.length);
        if (!e.response?.status?.startsWith(`${expectedStatus} `) || type !== ex.type) return void bad.push(`${round} entry ${k} (${ex.file}): ${JSON.stringify(e.response)}, expected ${expectedStatus}`);
        if (expectedStatus === 201) {
          model.add(ex.type, id, ex, value);
          if (version !== '1' || matches.includes(id)) bad.push(`${round} entry ${k} (${ex.file}): created at ${e.response.location}`);
        } else {
          const v = k % 2 ? model.bump(ex.type, matches[0]) : model.version(ex.type, matches[0]);
          if (id !== matches[0] || version !== String(v)) bad.push(`${round} entry ${k} (${ex.file}): ${e.response.location}, expected ${ex.type}/${matches[0]}/_history/${v}`);
        }
      });
    }
    // after every round, each condition's search is what the model says (the rolled-back round changed nothing)
    for (const { ex, c, u } of subset) for (const v of [c, u]) await checkSearch(ex, v, bad, 'after transactions');
    expect(bad).toEqual([]);
  });

  it('http.html#ccreate, #cond-update, conditional delete on the identifiers several R4 examples share (e.g. Immunization urn:oid:…1234): 412, delete per CONDITIONAL_DELETE_MAX', async () => {
    const groups = new Map<string, { ex: Example; i: number }[]>();
    for (const d of live) {
      const key = `${d.ex.type}|${d.ex.system}|${d.ex.value}`;
      groups.set(key, [...(groups.get(key) ?? []), d]);
    }
    const shared = [...groups.values()].filter((g) => g.length > 1);
    const bad: string[] = [];
    for (const [g, members] of shared.entries()) {
      const value = valueOf(g, '-shared-', members[0].ex);
      for (const { ex } of members) if ((await plainCreate(ex, value)).status !== 201) bad.push(`${ex.file}: plain create failed`);
      await checkSearch(members[0].ex, value, bad, 'shared');
      await condCreate(members[0].ex, value, bad, 'shared');
      await condUpdate(members[0].ex, value, 1, bad, 'shared');
      await condDelete(members[0].ex, value, bad, 'shared');
      await checkSearch(members[0].ex, value, bad, 'shared, after');
    }
    console.log(`conditional-oracle: ${shared.length} identifier(s) shared by several examples: ${shared.map((g) => `${g[0].ex.type} ${g[0].ex.value} ×${g.length}`).join(', ')}`);
    expect(bad).toEqual([]);
  });
});

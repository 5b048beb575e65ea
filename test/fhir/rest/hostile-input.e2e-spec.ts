import { AddressInfo, connect } from 'net';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

/**
 * Values the database cannot hold or that cannot name a resource: each is the client's error, answered
 * as a 400 OperationOutcome, and nothing is written. Before, a U+0000 in a resource or in an instance
 * URL reached PostgreSQL (whose text cannot hold it) and came back as a 500.
 */
describe('hostile input (datatypes.html#string, datatypes.html#id)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const family = (tag: string) => `Hostile${tag}${Date.now()}`;
  const countFamily = async (name: string) =>
    (await t.http.get(`/fhir/Patient?family:exact=${encodeURIComponent(name)}&_total=accurate`)).body.total;

  it('a string with a control character other than tab, CR or LF is refused with 400, naming the element', async () => {
    for (const bad of ['\u0000', '\u0007', '\u001b']) {
      const name = family('C');
      const res = await t.http
        .post('/fhir/Patient')
        .set('Content-Type', FHIR_JSON)
        .send({ resourceType: 'Patient', name: [{ family: name, given: [`a${bad}b`] }] });
      expect(res.status).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].expression).toEqual(['Patient.name[0].given[0]']);
      expect(res.body.issue[0].diagnostics).toContain(`U+${bad.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
      expect(await countFamily(name)).toBe(0);
    }
    const ok = family('Ok');
    const res = await t.http
      .post('/fhir/Patient')
      .send({ resourceType: 'Patient', name: [{ family: ok, text: 'tab\there\r\nnew line' }] });
    expect(res.status).toBe(201);
    expect(await countFamily(ok)).toBe(1);
  });

  it('a transaction holding such a string fails as a whole (http.html §3.1.0.11.2)', async () => {
    const name = family('Tx');
    const res = await t.http
      .post('/fhir')
      .send({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient', name: [{ family: name }] }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Patient', name: [{ family: name, given: ['x\u0000'] }] }, request: { method: 'POST', url: 'Patient' } },
        ],
      });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.issue)).toContain('U+0000');
    expect(await countFamily(name)).toBe(0);
  });

  it('an instance URL whose id is not a FHIR id is a 400 on every interaction, never a database error', async () => {
    for (const id of ['%00', 'abc%00', 'a_b', 'x'.repeat(65)]) {
      const cases = [
        t.http.get(`/fhir/Patient/${id}`),
        t.http.get(`/fhir/Patient/${id}/_history`),
        t.http.get(`/fhir/Patient/${id}/_history/1`),
        t.http.get(`/fhir/Patient/${id}/Observation`),
        t.http.get(`/fhir/Patient/${id}/$everything`),
        t.http.delete(`/fhir/Patient/${id}`),
        t.http.patch(`/fhir/Patient/${id}`).set('Content-Type', 'application/json-patch+json').send([{ op: 'remove', path: '/gender' }]),
      ];
      for (const res of await Promise.all(cases)) {
        expect(res.status).toBe(400);
        expect(res.body.issue[0].diagnostics).toMatch(/is not a valid FHIR id/);
      }
    }
  });

  it('a resource nested deeper than any walk can take is a 400, not a stack overflow (500)', async () => {
    const nested = (levels: number) =>
      '{"resourceType":"Parameters","parameter":[' + '{"name":"a","part":['.repeat(levels) + '{"name":"leaf","valueString":"x"}' + ']}'.repeat(levels) + ']}';
    for (const levels of [200, 5000]) {
      const res = await t.http.post('/fhir/Parameters').set('Content-Type', FHIR_JSON).send(nested(levels));
      expect(res.status).toBe(400);
      expect(res.body.issue[0].diagnostics).toMatch(/nested more than 128 levels deep/);
    }
    // as in a transaction Bundle, where references are collected before each entry is validated
    const bundle = `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Parameters"},"resource":${nested(5000)}}]}`;
    const tx = await t.http.post('/fhir').set('Content-Type', FHIR_JSON).send(bundle);
    expect(tx.status).toBe(400);
    expect(tx.body.resourceType).toBe('OperationOutcome');
    expect((await t.http.post('/fhir/Parameters').send(JSON.parse(nested(20)))).status).toBe(201);
  });

  it('search values holding U+0000 find nothing instead of failing (search.html: hostile values return empty results)', async () => {
    for (const q of ['Patient?name=%00', 'Patient?name:contains=a%00', 'Patient?family:exact=a%00', 'Patient?identifier=a%00b', 'Observation?code:text=%00', 'Patient?_content=a%00b']) {
      const res = await t.http.get(`/fhir/${q}`);
      expect([q, res.status]).toEqual([q, 200]);
      expect(res.body.entry ?? []).toEqual([]);
    }
    expect((await t.http.get('/fhir/_history?_type=%00')).status).toBe(400);
  });
  it('what the HTTP parser refuses (a URL past 16 KB, malformed HTTP) is answered with an OperationOutcome, and the server goes on', async () => {
    const server = t.app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      // a search with a long _id list: Node's limit for the request line and headers is 16 KB
      const ids = Array.from({ length: 800 }, (_, i) => `id-${i}-${'x'.repeat(20)}`).join(',');
      const long = await rawHttp(port, `GET /fhir/Patient?_id=${ids} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      expect(long.status).toBe(431);
      expect(long.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(long.body.resourceType).toBe('OperationOutcome');
      expect(long.body.issue[0].diagnostics).toMatch(/_search/);
      const malformed = await rawHttp(port, 'GET /fhir/metadata HTTP/1.1\r\nHost localhost\r\n\r\n');
      expect(malformed.status).toBe(400);
      expect(malformed.body.issue[0].code).toBe('structure');
      // the same search sent as POST _search with a form body is answered
      const posted = await t.http.post('/fhir/Patient/_search').type('form').send(`_id=${ids}`);
      expect(posted.status).toBe(200);
      expect(posted.body.resourceType).toBe('Bundle');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

/** Sends raw bytes and reads the whole answer (the server closes the connection after a refusal). */
function rawHttp(port: number, request: string): Promise<{ status: number; headers: Record<string, string>; body: any }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head, body] = text.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) });
    });
  });
}

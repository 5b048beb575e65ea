import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';

const FIXTURES = path.join(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'r4-examples');
const BINARY_EXAMPLE = path.join(FIXTURES, 'Binary-example.json');

/** superagent: collect any response body as raw bytes. */
function bytes(res: any, cb: (err: Error | null, body: Buffer) => void): void {
  const parts: Buffer[] = [];
  res.on('data', (c: Buffer) => parts.push(c));
  res.on('end', () => cb(null, Buffer.concat(parts)));
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A DICOM Part 10 lookalike: 128-byte preamble, "DICM", then incompressible pixel data. */
function dicomLike(size: number): Buffer {
  const b = randomBytes(size);
  b.fill(0, 0, 128);
  b.write('DICM', 128, 'latin1');
  return b;
}

// R4 http.html#binary (Binary content) and binary.html
describe('Binary: raw documents and FHIR JSON, streamed (http.html#binary)', () => {
  let t: TestApp;
  let pdf: Buffer;
  beforeAll(async () => {
    t = await startTestApp();
    if (fs.existsSync(BINARY_EXAMPLE)) {
      pdf = Buffer.from(JSON.parse(fs.readFileSync(BINARY_EXAMPLE, 'utf8')).data, 'base64');
    } else {
      console.warn(`${BINARY_EXAMPLE} not found: using a generated PDF`);
      pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(50_000), Buffer.from('\n%%EOF\n')]);
    }
  });
  afterAll(async () => t.close());

  it('a PDF posted raw reads back byte-exact with its Content-Type; as FHIR JSON with base64 data', async () => {
    const c = await t.http.post('/fhir/Binary').set('Content-Type', 'application/pdf').send(pdf);
    expect(c.status).toBe(201);
    expect(c.headers.location).toMatch(new RegExp(`^${t.baseUrl}/Binary/[^/]+/_history/1$`));
    expect(c.body.resourceType).toBe('Binary');
    expect(c.body.contentType).toBe('application/pdf');
    const id = c.body.id;

    const raw = await t.http.get(`/fhir/Binary/${id}`).set('Accept', 'application/pdf').buffer(true).parse(bytes);
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toBe('application/pdf');
    expect(raw.headers.etag).toBe('W/"1"');
    expect(Number(raw.headers['content-length'])).toBe(pdf.length);
    expect(sha256(raw.body)).toBe(sha256(pdf));

    // no Accept at all (a browser following a DocumentReference attachment URL): the document too
    const plain = await t.http.get(`/fhir/Binary/${id}`).buffer(true).parse(bytes);
    expect(plain.headers['content-type']).toBe('application/pdf');
    expect(plain.body.equals(pdf)).toBe(true);

    const json = await t.http.get(`/fhir/Binary/${id}`).set('Accept', FHIR_JSON);
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toMatch(/application\/fhir\+json/);
    expect(json.body).toMatchObject({ resourceType: 'Binary', id, contentType: 'application/pdf', meta: { versionId: '1' } });
    expect(Buffer.from(json.body.data, 'base64').equals(pdf)).toBe(true);
    // _format overrides Accept
    const viaFormat = await t.http.get(`/fhir/Binary/${id}?_format=json`).set('Accept', 'application/pdf');
    expect(viaFormat.body.data).toBe(json.body.data);
  });

  it('a 20 MB DICOM-like payload round-trips byte-exact, raw and as base64 JSON', async () => {
    const dicom = dicomLike(20 * 1024 * 1024 + 7); // not a multiple of the chunk size nor of 3
    const c = await t.http.post('/fhir/Binary').set('Content-Type', 'application/dicom').send(dicom);
    expect(c.status).toBe(201);
    const id = c.body.id;
    const raw = await t.http.get(`/fhir/Binary/${id}`).set('Accept', '*/*').buffer(true).parse(bytes);
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toBe('application/dicom');
    expect(raw.body.length).toBe(dicom.length);
    expect(sha256(raw.body)).toBe(sha256(dicom));
    const json = await t.http.get(`/fhir/Binary/${id}`).set('Accept', FHIR_JSON).buffer(true).parse(bytes);
    expect(Number(json.headers['content-length'])).toBe(json.body.length);
    const resource = JSON.parse(json.body.toString('utf8'));
    expect(sha256(Buffer.from(resource.data, 'base64'))).toBe(sha256(dicom));
  });

  it('the FHIR JSON form (spec example, with securityContext) is stored and served raw (binary.html)', async () => {
    const example = fs.existsSync(BINARY_EXAMPLE)
      ? JSON.parse(fs.readFileSync(BINARY_EXAMPLE, 'utf8'))
      : { resourceType: 'Binary', id: 'example', contentType: 'application/pdf', securityContext: { reference: 'DocumentReference/example' }, data: pdf.toString('base64') };
    const put = await t.http.put('/fhir/Binary/example').set('Content-Type', FHIR_JSON).send(example);
    expect(put.status).toBe(201);
    expect(put.body.data).toBeUndefined(); // the stored resource row carries no payload
    expect(put.body.securityContext).toEqual({ reference: 'DocumentReference/example' });
    const raw = await t.http.get('/fhir/Binary/example').set('Accept', 'application/pdf').buffer(true).parse(bytes);
    expect(raw.headers['content-type']).toBe('application/pdf');
    expect(raw.headers['x-security-context']).toBe('DocumentReference/example');
    expect(raw.headers['x-content-type-options']).toBe('nosniff');
    expect(raw.body.equals(Buffer.from(example.data, 'base64'))).toBe(true);
  });

  it('update replaces the document as a new version; vread serves each version\'s own bytes (§3.1.0.3)', async () => {
    const v1 = Buffer.from('first version\n');
    const v2 = randomBytes(3 * 1024 * 1024 + 1);
    const c = await t.http.post('/fhir/Binary').set('Content-Type', 'text/plain').send(v1);
    const id = c.body.id;
    const u = await t.http
      .put(`/fhir/Binary/${id}`)
      .set('Content-Type', 'image/jpeg')
      .set('X-Security-Context', 'Patient/p1')
      .send(v2);
    expect(u.status).toBe(200);
    expect(u.body).toMatchObject({ id, contentType: 'image/jpeg', securityContext: { reference: 'Patient/p1' }, meta: { versionId: '2' } });
    const cur = await t.http.get(`/fhir/Binary/${id}`).buffer(true).parse(bytes);
    expect(cur.headers['content-type']).toBe('image/jpeg');
    expect(cur.body.equals(v2)).toBe(true);
    const old = await t.http.get(`/fhir/Binary/${id}/_history/1`).buffer(true).parse(bytes);
    expect(old.headers['content-type']).toMatch(/^text\/plain/);
    expect(old.body.equals(v1)).toBe(true);
    const oldJson = await t.http.get(`/fhir/Binary/${id}/_history/1`).set('Accept', FHIR_JSON);
    expect(Buffer.from(oldJson.body.data, 'base64').toString()).toBe('first version\n');
    // conditional read (§3.1.0.1): the current ETag answers 304
    expect((await t.http.get(`/fhir/Binary/${id}`).set('If-None-Match', 'W/"2"')).status).toBe(304);
    // If-Match on a stale version: 412, nothing written
    const stale = await t.http.put(`/fhir/Binary/${id}`).set('Content-Type', 'text/plain').set('If-Match', 'W/"1"').send('x');
    expect(stale.status).toBe(412);
    expect((await t.http.get(`/fhir/Binary/${id}`).set('Accept', FHIR_JSON)).body.meta.versionId).toBe('2');
  });

  it('unknown Binary answers 404 as an OperationOutcome; a deleted one 410', async () => {
    const r = await t.http.get('/fhir/Binary/nope').set('Accept', 'application/pdf');
    expect(r.status).toBe(404);
    expect(r.body.resourceType).toBe('OperationOutcome');
    const c = await t.http.post('/fhir/Binary').set('Content-Type', 'application/octet-stream').send(Buffer.from([1, 2, 3]));
    expect((await t.http.delete(`/fhir/Binary/${c.body.id}`)).status).toBe(204);
    expect((await t.http.get(`/fhir/Binary/${c.body.id}`)).status).toBe(410);
  });

  it('a FHIR JSON body with the wrong resourceType or bad base64 is 400', async () => {
    const wrong = await t.http.post('/fhir/Binary').set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient' });
    expect(wrong.status).toBe(400);
    const bad = await t.http
      .post('/fhir/Binary')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Binary', contentType: 'text/plain', data: '***not base64***' });
    expect(bad.status).toBe(400);
  });
});

describe('Binary size limit (MAX_BINARY_BYTES → 413)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ MAX_BINARY_BYTES: '100000' });
  });
  afterAll(async () => t.close());

  it('a raw upload above the limit is refused with 413 and nothing is stored', async () => {
    const r = await t.http.post('/fhir/Binary').set('Content-Type', 'application/pdf').send(randomBytes(100_001));
    expect(r.status).toBe(413);
    expect(r.body.resourceType).toBe('OperationOutcome');
    const ok = await t.http.post('/fhir/Binary').set('Content-Type', 'application/pdf').send(randomBytes(100_000));
    expect(ok.status).toBe(201);
    const blobs = await t.db.query('SELECT count(*)::int AS n FROM binary_blob');
    expect(blobs.rows[0].n).toBe(1);
  });

  it('a chunked upload (no Content-Length) above the limit is 413 too', async () => {
    const server = http.createServer(t.app.getHttpAdapter().getInstance());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/fhir/Binary', headers: { 'Content-Type': 'application/dicom' } });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        for (let i = 0; i < 15; i++) req.write(randomBytes(10_000)); // Transfer-Encoding: chunked
        req.end();
      });
      expect(status).toBe(413);
    } finally {
      server.close();
    }
    const rows = await t.db.query('SELECT count(*)::int AS n FROM binary_chunk');
    expect(rows.rows[0].n).toBe(1); // only the accepted document of the previous test
  });

  it('a base64 FHIR JSON body above the limit is 413', async () => {
    const r = await t.http
      .post('/fhir/Binary')
      .set('Content-Type', FHIR_JSON)
      .send({ resourceType: 'Binary', contentType: 'application/pdf', data: randomBytes(100_001).toString('base64') });
    expect(r.status).toBe(413);
  });
});

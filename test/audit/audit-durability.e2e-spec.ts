import { Agent } from 'http';
import { AddressInfo, connect, Socket } from 'net';
import request from 'supertest';
import { verifyAuditChain } from '../../src/audit/audit-verify';
import { AuditService } from '../../src/audit/audit.service';
import { Database } from '../../src/database/database';
import { startTestApp, TestApp, testDatabaseUrl } from '../helpers/test-app';

// Issue "Audit trail", Durable and fast: a response leaves only after its
// audit row is durable; no row is lost under load or on shutdown; when the
// audit row cannot be written the request fails instead of going unaudited.
describe('audit durability', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  let closed = false;
  afterAll(async () => {
    if (!closed) await t.close();
  });

  it('1,000 mixed requests in parallel: exactly one AuditEvent per request', async () => {
    // all 1,000 in flight at once, over 100 keep-alive sockets of one listening server
    // (1,000 fresh connections at once overflow the kernel's listen backlog: ECONNRESET)
    const server = t.app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 100 });
    const load = {
      get: (path: string) => request(base).get(path).agent(keepAlive),
      post: (path: string) => request(base).post(path).agent(keepAlive),
      put: (path: string) => request(base).put(path).agent(keepAlive),
    };
    const patients = await Promise.all(
      Array.from({ length: 20 }, (_, i) => t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: `Load${i}` }] })),
    );
    const ids = patients.map((p) => p.body.id as string);
    const kinds: ((i: number) => request.Test)[] = [
      (i) => load.get(`/fhir/Patient/${ids[i % 20]}`),
      (i) => load.get(`/fhir/Patient/${ids[i % 20]}/_history/1`),
      (i) => load.get(`/fhir/Patient?name=Load${i % 20}`),
      (i) => load.get(`/fhir/Patient/${ids[i % 20]}/_history`),
      () => load.post('/fhir/Observation').send({ resourceType: 'Observation', status: 'final', code: { text: 'x' } }),
      (i) => load.put(`/fhir/Patient/load-${i}`).send({ resourceType: 'Patient', id: `load-${i}` }),
      () => load.get('/fhir/Patient/not-there'),
      () => load.get('/fhir/metadata'),
      () => load.get('/fhir/AuditEvent?_count=1'),
      () => load.post('/fhir/Patient').send({ resourceType: 'Patient', birthDate: 'not a date' }),
    ];
    const statuses = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => kinds[i % kinds.length](i).set('X-Request-Id', `load-${i}`).then((r) => r.status)),
    );
    keepAlive.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(statuses.filter((s) => s === 503)).toEqual([]);
    // every request announced to the group commit settled (none would hold later statements back)
    expect(t.app.get(AuditService).recordsInProgress).toBe(0);
    const r = await t.db.query(
      `SELECT count(*)::int AS n, count(DISTINCT request_id)::int AS d FROM audit_event WHERE request_id LIKE 'load-%'`,
    );
    expect(r.rows[0]).toEqual({ n: 1000, d: 1000 });
    // and all of it chains
    await t.app.get(AuditService).sealer.sealAll();
    const report = await verifyAuditChain(t.db);
    expect(report.ok).toBe(true);
    expect(report.pending).toBe(0);
  });

  it('a search whose client goes away mid-body settles its group-commit announcement; writes are not announced', async () => {
    const server = t.app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const audit = t.app.get(AuditService);
    const sockets: Socket[] = [];
    const partial = async (head: string) => {
      const socket = connect(port, '127.0.0.1');
      sockets.push(socket);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(`${head}\r\nHost: x\r\nContent-Length: 1000\r\n\r\nfamily=`);
      // the server has the headers (the request is routed) and waits for the rest of the body
      await new Promise((r) => setTimeout(r, 100));
      return socket;
    };
    const settled = async () => {
      for (let i = 0; i < 100 && audit.recordsInProgress > 0; i++) await new Promise((r) => setTimeout(r, 10));
    };
    try {
      // a search (POST _search) will join the group commit: announced while in progress
      const search = await partial('POST /fhir/Patient/_search HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded');
      expect(audit.recordsInProgress).toBe(1);
      search.destroy();
      await settled();
      expect(audit.recordsInProgress).toBe(0);
      // a create records its event in its own statement: statements never wait for it
      const create = await partial('POST /fhir/Patient HTTP/1.1\r\nContent-Type: application/fhir+json');
      expect(audit.recordsInProgress).toBe(0);
      create.destroy();
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('when the audit row cannot be written the request fails (503) and discloses nothing; writes roll back', async () => {
    const p = await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'Secret' }] });
    // the audit table refuses new rows (a database blip, a full disk...)
    await t.db.query(`ALTER TABLE audit_event ADD CONSTRAINT audit_down CHECK (outcome < 0) NOT VALID`);
    try {
      const read = await t.http.get(`/fhir/Patient/${p.body.id}`).set('Origin', 'https://app.example');
      expect(read.status).toBe(503);
      expect(read.headers['access-control-allow-origin']).toBe('*'); // a browser app can read why
      expect(read.body.resourceType).toBe('OperationOutcome');
      expect(read.text).not.toContain('Secret');
      expect(read.headers.etag).toBeUndefined();
      const write = await t.http.post('/fhir/Patient').send({ resourceType: 'Patient', name: [{ family: 'NotWritten' }] });
      expect(write.status).toBeGreaterThanOrEqual(500);
      const stored = await t.db.query(`SELECT count(*)::int AS n FROM resource WHERE content LIKE '%NotWritten%'`);
      expect(stored.rows[0].n).toBe(0);
    } finally {
      await t.db.query(`ALTER TABLE audit_event DROP CONSTRAINT audit_down`);
    }
    expect((await t.http.get(`/fhir/Patient/${p.body.id}`)).status).toBe(200);
  });

  it('SIGTERM-style shutdown: every answered request has its row, and the chain is sealed', async () => {
    // the shared app goes first: the embedded database is one session, two apps on it would
    // interleave their connections' search_path (this is the file's last test)
    await t.close();
    closed = true;
    const app = await startTestApp();
    const schema = app.db.schema!;
    const p = await app.http.post('/fhir/Patient').send({ resourceType: 'Patient' });
    const server = app.app.getHttpServer();
    const agent = request(server);
    const inFlight = Array.from({ length: 200 }, (_, i) =>
      agent.get(`/fhir/Patient/${p.body.id}`).set('X-Request-Id', `stop-${i}`).then((r) => r.status, () => 0),
    );
    await new Promise((r) => setTimeout(r, 30));
    const closing = app.app.close();
    const statuses = await Promise.all(inFlight);
    await closing;
    const answered = statuses.filter((s) => s === 200).length;
    expect(answered).toBeGreaterThan(0);
    const db = await Database.connect({ url: testDatabaseUrl(), schema, poolSize: 1, urlIsEmbedded: !process.env.TEST_DATABASE_URL });
    try {
      const r = await db.query(`SELECT count(*)::int AS n FROM audit_event WHERE request_id LIKE 'stop-%' AND outcome = 0`);
      expect(r.rows[0].n).toBe(answered);
      const report = await verifyAuditChain(db);
      expect(report.ok).toBe(true);
    } finally {
      await db.dropSchema();
      await db.close();
    }
  });
});

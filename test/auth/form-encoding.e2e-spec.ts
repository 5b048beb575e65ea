import { SmartApp, startSmartApp } from './smart-helpers';

/**
 * The token endpoint takes `application/x-www-form-urlencoded` only (RFC 6749
 * §3.2 "using the application/x-www-form-urlencoded format", §4.1.3, §4.4.2),
 * and so do revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1):
 * a JSON (or any other) body is refused with 400 invalid_request and a JSON
 * error body (RFC 6749 §5.2), before any credential or token is looked at.
 */
describe('OAuth endpoints take form-encoded bodies only (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1)', () => {
  let s: SmartApp;
  beforeAll(async () => {
    s = await startSmartApp();
  });
  afterAll(async () => s?.close());

  const grant = { grant_type: 'client_credentials', client_id: 'post-client', client_secret: 'p0st' };

  it.each([
    ['token', grant],
    ['introspect', { token: 'x', client_id: 'post-client', client_secret: 'p0st' }],
    ['revoke', { token: 'x', client_id: 'post-client', client_secret: 'p0st' }],
  ])('/auth/%s refuses a JSON body, a text body and no body with 400 invalid_request', async (endpoint, body) => {
    const json = await s.http.post(`/auth/${endpoint}`).set('Content-Type', 'application/json').send(JSON.stringify(body));
    const text = await s.http.post(`/auth/${endpoint}`).set('Content-Type', 'text/plain').send(new URLSearchParams(body).toString());
    const none = await s.http.post(`/auth/${endpoint}`);
    for (const r of [json, text, none]) {
      expect(r.status).toBe(400);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.body).toEqual({ error: 'invalid_request', error_description: expect.stringMatching(/x-www-form-urlencoded/) });
    }
  });

  it('the same request form-encoded succeeds (with or without a charset parameter)', async () => {
    const form = await s.http.post('/auth/token').type('form').send(grant);
    expect(form.status).toBe(200);
    const charset = await s.http
      .post('/auth/token')
      .set('Content-Type', 'application/x-www-form-urlencoded; charset=UTF-8')
      .send(new URLSearchParams(grant).toString());
    expect(charset.status).toBe(200);
    const introspection = await s.http
      .post('/auth/introspect')
      .type('form')
      .send({ token: form.body.access_token, client_id: 'post-client', client_secret: 'p0st' });
    expect(introspection.body).toMatchObject({ active: true, client_id: 'post-client' });
    expect((await s.http.post('/auth/revoke').type('form').send({ token: form.body.access_token, client_id: 'post-client', client_secret: 'p0st' })).status).toBe(200);
  });

  it('client registration keeps its JSON body (RFC 7591 §3.1)', async () => {
    const r = await s.http.post('/auth/register').set('Content-Type', 'application/json').send({ client_name: 'x' });
    expect(r.status).toBe(401); // no admin token, but the body was not refused for its type
  });
});

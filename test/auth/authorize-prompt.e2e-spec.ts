import { cookieOf, formFields, pkce, SmartApp, startSmartApp } from './smart-helpers';

const REDIRECT = 'http://localhost:9000/callback';

/**
 * `/auth/authorize` and the OpenID Connect request parameters it cannot
 * honour: `prompt=none` without a signed-in user is `login_required` (OIDC
 * Core §3.1.2.1, §3.1.2.6; this server keeps no sign-in session, so that is
 * every time), `request` and `request_uri` are `request_not_supported` and
 * `request_uri_not_supported` (OIDC Core §6, §6.1, §6.2). Errors are
 * redirected only once client_id and redirect_uri are known good (RFC 6749
 * §4.1.2.1); before that an error page is shown.
 */
describe('/auth/authorize: prompt=none, request and request_uri (OIDC Core §3.1.2.6, §6)', () => {
  let s: SmartApp;
  beforeAll(async () => {
    s = await startSmartApp();
  });
  afterAll(async () => s?.close());

  function query(extra: Record<string, string>) {
    return {
      response_type: 'code',
      client_id: 'demo-app',
      redirect_uri: REDIRECT,
      scope: 'openid fhirUser user/Patient.rs',
      state: 'st-42',
      aud: s.baseUrl,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      ...extra,
    };
  }

  /** The redirect's error, error_description presence and state. */
  function redirected(res: { status: number; headers: Record<string, any> }) {
    const url = new URL(res.headers.location ?? 'http://none/');
    return { status: res.status, target: `${url.origin}${url.pathname}`, error: url.searchParams.get('error'), state: url.searchParams.get('state') };
  }

  it('prompt=none with no signed-in user redirects back with error=login_required and the state (GET and POST)', async () => {
    const get = await s.http.get('/auth/authorize').query(query({ prompt: 'none' }));
    expect(redirected(get)).toEqual({ status: 302, target: REDIRECT, error: 'login_required', state: 'st-42' });
    const post = await s.http.post('/auth/authorize').type('form').send(query({ prompt: 'none' }));
    expect(redirected(post)).toEqual({ status: 303, target: REDIRECT, error: 'login_required', state: 'st-42' });
  });

  it('a browser that completed a flow before has no sign-in session either: prompt=none is still login_required', async () => {
    const start = await s.http.get('/auth/authorize').query(query({}));
    const cookie = cookieOf(start)!;
    const consent = await s.http.post('/auth/login').set('Cookie', cookie).type('form').send({ ...formFields(start.text), username: 'dr.smith', password: 'correct horse' });
    const done = await s.http.post('/auth/consent').set('Cookie', cookie).type('form').send({ ...formFields(consent.text), decision: 'allow' });
    expect(new URL(done.headers.location).searchParams.get('code')).toBeTruthy();
    const again = await s.http.get('/auth/authorize').set('Cookie', cookie).query(query({ prompt: 'none' }));
    expect(redirected(again)).toMatchObject({ error: 'login_required', state: 'st-42' });
  });

  it('prompt=none with another value is invalid_request; prompt=login and prompt=consent show the login page as always', async () => {
    const mixed = await s.http.get('/auth/authorize').query(query({ prompt: 'none login' }));
    expect(redirected(mixed)).toMatchObject({ status: 302, error: 'invalid_request', state: 'st-42' });
    for (const prompt of ['login', 'consent', 'login consent']) {
      const page = await s.http.get('/auth/authorize').query(query({ prompt }));
      expect(page.status).toBe(200);
      expect(page.text).toContain('Sign in');
    }
  });

  it('request and request_uri redirect with request_not_supported and request_uri_not_supported (OIDC Core §6.1, §6.2)', async () => {
    const request = await s.http.get('/auth/authorize').query(query({ request: 'eyJhbGciOiJub25lIn0.e30.' }));
    expect(redirected(request)).toEqual({ status: 302, target: REDIRECT, error: 'request_not_supported', state: 'st-42' });
    const requestUri = await s.http.get('/auth/authorize').query(query({ request_uri: 'https://app.example/req/1' }));
    expect(redirected(requestUri)).toEqual({ status: 302, target: REDIRECT, error: 'request_uri_not_supported', state: 'st-42' });
  });

  it('an unknown client or unregistered redirect_uri is an error page, never a redirect, whatever prompt or request say (RFC 6749 §4.1.2.1)', async () => {
    const cases: Record<string, string>[] = [
      { prompt: 'none', client_id: 'no-such-app' },
      { prompt: 'none', redirect_uri: 'https://evil.example/cb' },
      { request: 'x', redirect_uri: 'https://evil.example/cb' },
      { request_uri: 'https://app.example/req/1', client_id: 'no-such-app' },
    ];
    for (const extra of cases) {
      const res = await s.http.get('/auth/authorize').query(query(extra));
      expect(res.status).toBe(400);
      expect(res.headers.location).toBeUndefined();
    }
  });

  it('OIDC discovery says request objects are not supported', async () => {
    const oidc = (await s.http.get('/.well-known/openid-configuration')).body;
    expect(oidc).toMatchObject({ request_parameter_supported: false, request_uri_parameter_supported: false });
  });
});

import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { FHIR_JSON } from '../helpers/test-app';
import { backendToken, SmartApp, startSmartApp } from './smart-helpers';

const CHROMIUM = '/usr/bin/chromium';
const FHIR_CLIENT_JS = path.join(__dirname, '../../node_modules/fhirclient/build/fhir-client.js');

/** The SMART app: a launch page that starts the flow and a callback page that reads the patient (fhirclient). */
function appPages(scope: string): Record<string, string> {
  const head = '<!doctype html><html><head><meta charset="utf-8"><script src="/fhir-client.js"></script></head>';
  return {
    '/launch.html': `${head}<body><script>
      const q = new URLSearchParams(location.search);
      FHIR.oauth2.authorize({ clientId: 'demo-app', scope: ${JSON.stringify(scope)}, redirectUri: 'callback.html',
        iss: q.get('iss') || undefined, launch: q.get('launch') || undefined });
    </script></body></html>`,
    '/callback.html': `${head}<body><pre id="out"></pre><script>
      FHIR.oauth2.ready()
        .then(async (client) => {
          const patient = await client.patient.read();
          const out = { patient, patientId: client.patient.id, userType: client.getUserType(), userId: client.getUserId(),
                        scope: client.state.tokenResponse.scope, hasRefresh: !!client.state.tokenResponse.refresh_token };
          document.getElementById('out').textContent = JSON.stringify(out);
        })
        .catch((e) => { document.getElementById('out').textContent = JSON.stringify({ error: String(e && e.message || e) }); });
    </script></body></html>`,
  };
}

/**
 * A real SMART client (the `fhirclient` library in headless Chromium)
 * through the server's own pages: SMART App Launch 2.0 standalone launch
 * with PKCE (login, patient picker, consent) and EHR launch.
 */
const describeIfChromium = fs.existsSync(CHROMIUM) ? describe : describe.skip;
if (!fs.existsSync(CHROMIUM)) console.warn(`skipping the SMART browser tests: ${CHROMIUM} is missing (apt-get install chromium)`);

describeIfChromium('SMART client (fhirclient in Chromium)', () => {
  let s: SmartApp;
  let appServer: http.Server;
  let appOrigin: string;
  let browser: Browser;
  let pages: Record<string, string> = {};

  beforeAll(async () => {
    appServer = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/fhir-client.js') {
        res.setHeader('Content-Type', 'text/javascript');
        fs.createReadStream(FHIR_CLIENT_JS).pipe(res);
      } else if (pages[url.pathname]) {
        res.setHeader('Content-Type', 'text/html');
        res.end(pages[url.pathname]);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => appServer.listen(0, '127.0.0.1', r));
    appOrigin = `http://127.0.0.1:${(appServer.address() as AddressInfo).port}`;

    const port = await freePort();
    s = await startSmartApp({ PUBLIC_URL: `http://127.0.0.1:${port}` }, { redirect: `${appOrigin}/callback.html` });
    await s.app.listen(port, '127.0.0.1');
    const system = (await backendToken(s, 'system/*.cruds', 'ec-backend')).body.access_token;
    for (const p of [
      { resourceType: 'Patient', id: 'alice', name: [{ family: 'Alison', given: ['Alice'] }], birthDate: '1980-02-03' },
      { resourceType: 'Patient', id: 'bob', name: [{ family: 'Roberts', given: ['Bob'] }], birthDate: '1975-06-07' },
    ]) {
      const r = await s.http.put(`/fhir/Patient/${p.id}`).set('Authorization', `Bearer ${system}`).set('Content-Type', FHIR_JSON).send(p);
      expect(r.status).toBeLessThan(300);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await s?.close();
    appServer?.close();
  });

  async function signIn(page: Page, username: string, password: string) {
    await page.waitForSelector('input[name="username"]');
    expect(new URL(page.url()).pathname).toBe('/auth/authorize');
    await page.fill('input[name="username"]', username);
    await page.fill('input[name="password"]', password);
    await page.click('button:has-text("Sign in")');
  }

  async function result(page: Page): Promise<any> {
    await page.waitForFunction(() => document.getElementById('out')?.textContent, undefined, { timeout: 30_000 });
    return JSON.parse((await page.textContent('#out'))!);
  }

  it('standalone launch as a patient: PKCE, login, consent, then reads her own Patient', async () => {
    pages = appPages('launch/patient openid fhirUser offline_access patient/*.rs');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${appOrigin}/launch.html?iss=${encodeURIComponent(s.baseUrl)}`);
    await signIn(page, 'alice', 'alice pw');
    await page.waitForSelector('button:has-text("Allow")');
    expect(await page.textContent('body')).toContain('Read and search all kinds of records about the selected patient');
    await page.click('button:has-text("Allow")');
    const out = await result(page);
    expect(out.error).toBeUndefined();
    expect(out.patientId).toBe('alice');
    expect(out.patient).toMatchObject({ resourceType: 'Patient', id: 'alice' });
    expect(out.userType).toBe('Patient');
    expect(out.hasRefresh).toBe(true);
    // the app used PKCE S256: the code was bound to a challenge
    const { rows } = await s.db.query(`SELECT code_challenge FROM auth_code WHERE client_id = 'demo-app' AND username = 'alice'`);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => /^[A-Za-z0-9_-]{43}$/.test(r.code_challenge))).toBe(true);
    await context.close();
  });

  it('standalone launch as a practitioner: picks a patient in the picker', async () => {
    pages = appPages('launch/patient openid fhirUser patient/*.rs');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${appOrigin}/launch.html?iss=${encodeURIComponent(s.baseUrl)}`);
    await signIn(page, 'dr.smith', 'correct horse');
    await page.waitForSelector('input[name="name"]');
    await page.fill('input[name="name"]', 'Roberts');
    await page.click('button:has-text("Search")');
    await page.click('button:has-text("Bob Roberts")');
    await page.click('button:has-text("Allow")');
    const out = await result(page);
    expect(out.error).toBeUndefined();
    expect(out.patient).toMatchObject({ resourceType: 'Patient', id: 'bob' });
    expect(out.userType).toBe('Practitioner');
    expect(out.userId).toBe('dr-smith');
    await context.close();
  });

  it('EHR launch: the EHR creates a launch context, the app gets that patient without a picker', async () => {
    pages = appPages('launch openid fhirUser patient/*.rs');
    const ehr = (await backendToken(s, 'system/*.rs')).body.access_token;
    const launch = await s.http.post('/auth/launch').set('Authorization', `Bearer ${ehr}`).send({ patient: 'alice' });
    expect(launch.status).toBe(201);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${appOrigin}/launch.html?iss=${encodeURIComponent(s.baseUrl)}&launch=${encodeURIComponent(launch.body.launch)}`);
    await signIn(page, 'dr.smith', 'correct horse');
    await page.waitForSelector('button:has-text("Allow")');
    await page.click('button:has-text("Allow")');
    const out = await result(page);
    expect(out.error).toBeUndefined();
    expect(out.patientId).toBe('alice');
    expect(out.patient.name[0].family).toBe('Alison');
    expect(out.scope.split(' ')).toContain('launch');
    await context.close();
  });

  it('Deny at consent sends the app access_denied and no token', async () => {
    pages = appPages('launch/patient patient/*.rs');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${appOrigin}/launch.html?iss=${encodeURIComponent(s.baseUrl)}`);
    await signIn(page, 'alice', 'alice pw');
    await page.click('button:has-text("Deny")');
    const out = await result(page);
    expect(out.error).toMatch(/access_denied|denied/);
    expect(new URL(page.url()).searchParams.get('error')).toBe('access_denied');
    await context.close();
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = http.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

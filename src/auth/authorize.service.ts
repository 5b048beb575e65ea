import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'crypto';
import { APP_CONFIG, AppConfig } from '../config/config';
import { FhirDefinitions } from '../fhir/definitions/definitions.module';
import { AuthEvents } from './auth-events';
import { AuthUser, ClientRepository, OAuthClient } from './client.repository';
import { CredentialLockout, userSubject } from './credential-lockout';
import { GrantRepository, PendingRequest } from './grant.repository';
import { INTROSPECT_PERMISSION } from './introspection.service';
import { consentPage, errorPage, FormState, loginPage, patientPickerPage } from './pages';
import { PatientDirectory } from './patient-directory';
import { adminPowers } from './scope-policy';
import { SearchService } from '../fhir/search/search.service';
import { allowedScopes, describeScope, filterApplicable, parseScopes } from './scopes';
import { decoyHash, randomToken, safeEqual, sha256, verifySecret } from './secrets';

/** An HTML page to show, or a redirect back to the client. */
export type FlowResult = { status: number; html: string; cookie?: string } | { redirect: string };

export type Params = Record<string, string | undefined>;

/** Name of the cookie binding an authorization request to the browser that started it. */
export const BINDING_COOKIE = 'smart_authz';
const REQUEST_TTL_MS = 10 * 60_000;
const CODE_TTL_MS = 60_000;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The authorization code flow (RFC 6749 §4.1 with PKCE, SMART App Launch
 * 2.0): /authorize checks the client, redirect_uri, aud, PKCE and launch,
 * then the user signs in, picks a patient (practitioners with
 * `launch/patient`), consents, and is sent back with a single-use code.
 * State between pages is a database row (any process can serve any step),
 * found by a random handle in the form, bound to the browser by a cookie and
 * protected by a CSRF token.
 */
@Injectable()
export class AuthorizeFlow {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clients: ClientRepository,
    private readonly grants: GrantRepository,
    private readonly lockout: CredentialLockout,
    private readonly patients: PatientDirectory,
    private readonly definitions: FhirDefinitions,
    private readonly events: AuthEvents,
    private readonly search: SearchService,
  ) {}

  async start(p: Params, binding: string | undefined): Promise<FlowResult> {
    const client = p.client_id ? await this.clients.client(p.client_id) : undefined;
    if (!client) return page(400, errorPage('Unknown client_id.'));
    // an unregistered redirect_uri gets an error page, never a redirect (RFC 6749 §4.1.2.1)
    if (!p.redirect_uri || !client.redirectUris.includes(p.redirect_uri)) {
      return page(400, errorPage('The redirect_uri is not registered for this client.'));
    }
    const fail = (error: string, description: string) => ({ redirect: errorRedirect(p.redirect_uri!, error, description, p.state) });
    // OIDC Core §6: request objects are not supported (they may hold every other parameter, so this comes first)
    if (p.request !== undefined) return fail('request_not_supported', 'request objects (request) are not supported');
    if (p.request_uri !== undefined) return fail('request_uri_not_supported', 'request_uri is not supported');
    if (p.response_type !== 'code') return fail('unsupported_response_type', 'response_type must be code');
    if (!client.grantTypes.includes('authorization_code')) return fail('unauthorized_client', 'the client may not use this flow');
    if (!p.state) return fail('invalid_request', 'state is required');
    if ((p.aud ?? '').replace(/\/+$/, '') !== this.config.fhirBaseUrl) {
      return fail('invalid_request', `aud must be this server's FHIR base URL (${this.config.fhirBaseUrl})`);
    }
    if (p.code_challenge_method !== undefined && p.code_challenge_method !== 'S256') {
      return fail('invalid_request', 'code_challenge_method must be S256');
    }
    if (p.code_challenge !== undefined && !CHALLENGE.test(p.code_challenge)) return fail('invalid_request', 'malformed code_challenge');
    if (p.code_challenge !== undefined && p.code_challenge_method === undefined) {
      return fail('invalid_request', 'code_challenge_method must be S256');
    }
    // SMART App Launch 2.x §"Considerations for PKCE Support": every app, confidential ones too
    if (!p.code_challenge) return fail('invalid_request', 'PKCE is required: code_challenge and code_challenge_method=S256');
    const requested = parseScopes(p.scope);
    let launch: { hash: string; patient?: string; encounter?: string; fhirContext?: unknown[] } | undefined;
    if (p.launch && requested.scopes.includes('launch')) {
      const hash = sha256(p.launch);
      const ctx = await this.grants.launch(hash);
      if (!ctx) return fail('invalid_request', 'the launch parameter is unknown or expired');
      launch = { hash, ...ctx };
    }
    // RFC 6749 §3.3: fail the request rather than run the flow for an empty grant (a patient may still be picked)
    if (!this.grantedScopes(client, { scope: requested.scopes.join(' '), patient: launch?.patient ?? 'to be picked', launchHash: launch?.hash }).length) {
      return fail('invalid_scope', 'none of the requested scopes can be granted to this client');
    }
    const prompt = promptError(p.prompt);
    if (prompt) return fail(...prompt);
    const newBinding = binding && /^[A-Za-z0-9_-]{43}$/.test(binding) ? undefined : randomToken();
    const handle = randomToken();
    const request: PendingRequest = {
      idHash: sha256(handle),
      bindingHash: sha256(newBinding ?? binding!),
      csrfToken: randomToken(),
      clientId: client.clientId,
      redirectUri: p.redirect_uri,
      scope: requested.scopes.join(' '),
      state: p.state,
      codeChallenge: p.code_challenge,
      nonce: p.nonce,
      launchHash: launch?.hash,
      patient: launch?.patient,
      encounter: launch?.encounter,
      fhirContext: launch?.fhirContext,
      expiresAt: new Date(Date.now() + REQUEST_TTL_MS),
    };
    await this.grants.createRequest(request);
    const result = page(200, loginPage({ request: handle, csrfToken: request.csrfToken }, clientName(client)));
    if (newBinding) result.cookie = newBinding;
    return result;
  }

  async login(form: Params, binding: string | undefined, address?: string): Promise<FlowResult> {
    const s = await this.resume(form, binding);
    if ('status' in s) return s;
    const { request, client, state } = s;
    const username = form.username ?? '';
    // counted per username and address, known or not (CredentialLockout): a wrong-password flood locks the flooding address
    const subject = userSubject(username);
    if (await this.lockout.locked(subject, address)) {
      this.events.emit({ type: 'login', outcome: 'failure', reason: 'locked', username, clientId: client.clientId, address });
      return page(429, loginPage(state, clientName(client), 'Too many failed sign-ins. Try again later.'));
    }
    const user = await this.clients.user(username);
    const ok = await verifySecret(form.password ?? '', user?.passwordHash ?? (await decoyHash()));
    if (!user || !ok) {
      await this.lockout.failed(subject, address);
      this.events.emit({ type: 'login', outcome: 'failure', reason: 'bad credentials', username, clientId: client.clientId, address });
      return page(401, loginPage(state, clientName(client), 'Invalid username or password.'));
    }
    await this.lockout.succeeded(subject, address);
    this.events.emit({ type: 'login', outcome: 'success', username, fhirUser: user.fhirUser, clientId: client.clientId, address });
    const patientUser = patientOf(user);
    if (patientUser && request.patient && request.patient !== patientUser) {
      await this.grants.deleteRequest(request.idHash);
      return { redirect: errorRedirect(request.redirectUri, 'access_denied', 'a patient may only open their own record', request.state) };
    }
    // a patient user always acts on their own record
    const patient = request.patient ?? (patientUser && wantsPatient(request.scope) ? patientUser : undefined);
    await this.grants.updateRequest(request.idHash, { username: user.username, patient });
    return this.next({ ...request, username: user.username, patient }, client, user, state);
  }

  async pickPatient(form: Params, binding: string | undefined): Promise<FlowResult> {
    const s = await this.resume(form, binding);
    if ('status' in s) return s;
    const { request, client, state } = s;
    const user = request.username ? await this.clients.user(request.username) : undefined;
    if (!user || patientOf(user)) return page(400, errorPage('Sign in first.'));
    if (form.patient) {
      if (!(await this.patients.label(form.patient))) {
        return page(400, patientPickerPage(state, await this.patients.find(''), '', 'That patient does not exist.'));
      }
      await this.grants.updateRequest(request.idHash, { patient: form.patient });
      return this.next({ ...request, patient: form.patient }, client, user, state);
    }
    const name = (form.name ?? '').trim();
    return page(200, patientPickerPage(state, await this.patients.find(name), name));
  }

  async consent(form: Params, binding: string | undefined, address?: string): Promise<FlowResult> {
    const s = await this.resume(form, binding);
    if ('status' in s) return s;
    const { request, client } = s;
    const user = request.username ? await this.clients.user(request.username) : undefined;
    if (!user) return page(400, errorPage('Sign in first.'));
    if (needsPicker(request, user)) return page(400, errorPage('Select a patient first.'));
    if (!(await this.grants.deleteRequest(request.idHash))) return page(400, errorPage('This request was already answered.'));
    if (form.decision !== 'allow') {
      this.events.emit({ type: 'token-issued', outcome: 'failure', reason: 'access_denied', username: user.username, clientId: client.clientId, address });
      return { redirect: errorRedirect(request.redirectUri, 'access_denied', 'the user denied access', request.state) };
    }
    const code = randomToken();
    await this.grants.createCode(
      sha256(code),
      {
        grantId: randomUUID(),
        clientId: client.clientId,
        redirectUri: request.redirectUri,
        scope: this.grantedScopes(client, request).join(' '),
        username: user.username,
        fhirUser: user.fhirUser,
        patient: request.patient,
        encounter: request.encounter,
        fhirContext: request.fhirContext,
        codeChallenge: request.codeChallenge,
        nonce: request.nonce,
      },
      new Date(Date.now() + CODE_TTL_MS),
    );
    const url = new URL(request.redirectUri);
    url.searchParams.set('code', code);
    if (request.state) url.searchParams.set('state', request.state);
    return { redirect: url.toString() };
  }

  /**
   * What the user is asked to grant: the requested scopes the client is
   * registered for, without system/ scopes (backend services only) and the
   * `introspect` client permission (never a token's scope), without
   * granular scopes naming an unknown search parameter, without
   * patient/ scopes when no patient is in context, and without refresh
   * scopes for a client that may not refresh.
   */
  grantedScopes(client: OAuthClient, request: Pick<PendingRequest, 'scope' | 'patient' | 'launchHash'>): string[] {
    const requested = request.scope.split(' ').filter(Boolean);
    return allowedScopes(requested, client.scope.split(/\s+/), (t) => this.definitions.isResourceType(t)).filter((s) => {
      if (s.startsWith('system/') || s === INTROSPECT_PERMISSION) return false;
      if (!filterApplicable(s, (t, code) => !!this.search.registry.param(t, code))) return false;
      if (s.startsWith('patient/') || s === 'launch/patient') return !!request.patient;
      if (s === 'launch') return !!request.launchHash;
      if (s === 'offline_access' || s === 'online_access') return client.grantTypes.includes('refresh_token');
      return true;
    });
  }

  private async next(request: PendingRequest, client: OAuthClient, user: AuthUser, state: FormState): Promise<FlowResult> {
    if (needsPicker(request, user)) return page(200, patientPickerPage(state, await this.patients.find(''), ''));
    const granted = this.grantedScopes(client, request);
    if (!granted.length) {
      // e.g. patient/ scopes for a practitioner who did not ask for launch/patient: no consent page for nothing
      await this.grants.deleteRequest(request.idHash);
      return { redirect: errorRedirect(request.redirectUri, 'invalid_scope', 'none of the requested scopes can be granted in this context', request.state) };
    }
    const scopes = granted.map(describeScope);
    // the admin role acts through this token only with user/*.cruds (scope-policy adminPowers): say so
    if (adminPowers(user.roles.includes('admin'), parseScopes(granted.join(' ')).rules)) {
      scopes.push('Act as an administrator: register clients, rotate signing keys, read the audit trail, reindex');
    }
    const label = request.patient ? await this.patients.label(request.patient) : undefined;
    return page(200, consentPage(state, clientName(client), [...new Set(scopes)], label));
  }

  /** The request a form belongs to, checked against the browser cookie and the CSRF token. */
  private async resume(
    form: Params,
    binding: string | undefined,
  ): Promise<{ status: number; html: string } | { request: PendingRequest; client: OAuthClient; state: FormState }> {
    const handle = form.request;
    const request = handle ? await this.grants.request(sha256(handle)) : undefined;
    if (!request) return page(400, errorPage('This sign-in request has expired or is unknown. Start again from the app.'));
    if (!binding || !safeEqual(sha256(binding), request.bindingHash) || !safeEqual(form.csrf_token ?? '', request.csrfToken)) {
      return page(403, errorPage('The form could not be verified (CSRF check failed). Start again from the app.'));
    }
    const client = await this.clients.client(request.clientId);
    if (!client) return page(400, errorPage('Unknown client.'));
    return { request, client, state: { request: handle!, csrfToken: request.csrfToken } };
  }
}

/**
 * `prompt` (OIDC Core §3.1.2.1): the server keeps no sign-in session between
 * authorization requests, so every request shows the login and consent pages
 * (`login`, `consent`, `select_account` are always honoured) and `none` can
 * never succeed: `login_required` (§3.1.2.6), the error for "no End-User is
 * authenticated". `none` with another value is `invalid_request`.
 */
function promptError(prompt: string | undefined): [string, string] | undefined {
  const values = (prompt ?? '').split(' ').filter(Boolean);
  if (!values.includes('none')) return undefined;
  if (values.length > 1) return ['invalid_request', 'prompt=none cannot be combined with other prompt values'];
  return ['login_required', 'no user is signed in: this server asks the user to sign in on every authorization request'];
}

function page(status: number, html: string): { status: number; html: string; cookie?: string } {
  return { status, html };
}

function errorRedirect(redirectUri: string, error: string, description: string, state?: string): string {
  const url = new URL(redirectUri);
  url.searchParams.set('error', error);
  url.searchParams.set('error_description', description);
  if (state) url.searchParams.set('state', state);
  return url.toString();
}

function clientName(c: OAuthClient): string {
  return c.name ?? c.clientId;
}

function patientOf(user: AuthUser): string | undefined {
  const [type, id] = (user.fhirUser ?? '').split('/');
  return type === 'Patient' && id ? id : undefined;
}

function wantsPatient(scope: string): boolean {
  return scope.split(' ').some((s) => s === 'launch/patient' || s.startsWith('patient/'));
}

function needsPicker(request: PendingRequest, user: AuthUser): boolean {
  return !request.patient && !patientOf(user) && request.scope.split(' ').includes('launch/patient');
}

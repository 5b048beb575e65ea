import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import passport from 'passport';
import { APP_CONFIG, AppConfig } from '../config/config';
import { FhirError, issue } from '../fhir/errors';
import { queryPairs } from '../fhir/rest/content-negotiation';
import { formBodyPairs } from '../fhir/rest/query-string';
import type { AuthContext } from './auth-context';
import { AuthEvents } from './auth-events';
import { BearerChallenge, BearerStrategy } from './bearer.strategy';
import { RequestAuthorizer } from './request-authorizer';
import { Tokens } from './tokens.service';

/** FHIR paths anyone may GET: the CapabilityStatement and SMART/OIDC discovery. */
export function isPublicFhirPath(method: string, path: string): boolean {
  if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') return false;
  return path === '/fhir/metadata' || path.startsWith('/fhir/.well-known/');
}

/**
 * The resource server's gate, global: every `/fhir/**` request except
 * discovery and metadata needs a valid bearer token (passport with this
 * app's BearerStrategy: signature, iss, aud, exp, revocation) → `req.auth`;
 * then the scope policy (RequestAuthorizer) decides on the interaction
 * before the controller runs. 401 carries `WWW-Authenticate: Bearer …`
 * (RFC 6750). The strategy instance belongs to the app (not passport's
 * global registry), so several apps in one process never share token services.
 */
@Injectable()
export class FhirAuthGuard implements CanActivate {
  private readonly strategy: BearerStrategy;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly authorizer: RequestAuthorizer,
    private readonly events: AuthEvents,
    tokens: Tokens,
  ) {
    this.strategy = new BearerStrategy((token) => tokens.authenticate(token));
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const http = context.switchToHttp();
    await this.check(http.getRequest<Request>(), http.getResponse<Response>());
    return true;
  }

  /** Lets the request through (setting `req.auth`) or throws the 401/403 FhirError. */
  async check(req: Request, res: Response): Promise<void> {
    if (!req.path.startsWith('/fhir/') && req.path !== '/fhir') return;
    if (isPublicFhirPath(req.method, req.path)) return;
    // development only: without AUTH_REQUIRED a request with no token is an unrestricted internal call
    if (!this.config.authRequired && !req.headers.authorization) return;
    const auth = await this.authenticate(req, res);
    (req as Request & { auth: AuthContext }).auth = auth;
    try {
      await this.authorizer.authorize(auth, {
        method: req.method,
        path: req.path.slice('/fhir'.length),
        query: queryPairs(req),
        form: () => formBodyPairs(req),
        body: req.body,
        ifNoneExist: typeof req.headers['if-none-exist'] === 'string' ? req.headers['if-none-exist'] : undefined,
        securityContext: typeof req.headers['x-security-context'] === 'string' ? req.headers['x-security-context'] : undefined,
      });
    } catch (err) {
      if (err instanceof FhirError && err.status === 403) {
        err.headers['WWW-Authenticate'] = `Bearer realm="fhir", error="insufficient_scope"`;
        this.events.emit({
          type: 'access-denied',
          outcome: 'failure',
          reason: err.message,
          clientId: auth.clientId,
          username: auth.username,
          fhirUser: auth.fhirUser,
          patient: auth.patient,
          tokenId: auth.tokenId,
          address: req.ip,
          requestId: String((req as any).id ?? ''),
          request: `${req.method} ${req.path}`,
        });
      }
      throw err;
    }
  }

  private authenticate(req: Request, res: Response): Promise<AuthContext> {
    return new Promise((resolve, reject) => {
      const done = (err: unknown, user: AuthContext | false, info: unknown) => {
        if (err) reject(err);
        else if (!user) reject(this.unauthorized(req, (info ?? {}) as BearerChallenge));
        else resolve(user);
      };
      passport.authenticate(this.strategy, { session: false }, done)(req, res, (err?: unknown) => reject(err));
    });
  }

  private unauthorized(req: Request, c: BearerChallenge): FhirError {
    this.events.emit({
      type: 'token-refused',
      outcome: 'failure',
      reason: c.error ?? 'no token',
      address: req.ip,
      requestId: String((req as any).id ?? ''),
      request: `${req.method} ${req.path}`,
    });
    const params = [`realm="fhir"`];
    if (c.error) params.push(`error="${c.error}"`, `error_description="${(c.description ?? '').replace(/["\\]/g, '')}"`);
    const text = c.error ? (c.description ?? 'invalid token') : 'a bearer access token is required (SMART on FHIR)';
    // RFC 6750 §3.1: invalid_request answers 400, the others 401; both carry the challenge
    const status = c.status ?? 401;
    return new FhirError(status, [issue(status === 400 ? 'invalid' : 'login', text)], { 'WWW-Authenticate': `Bearer ${params.join(', ')}` });
  }
}

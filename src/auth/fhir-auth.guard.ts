import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import type { Request } from 'express';
import { APP_CONFIG, AppConfig } from '../config/config';
import { FhirError, issue } from '../fhir/errors';
import { queryPairs } from '../fhir/rest/content-negotiation';
import type { AuthContext } from './auth-context';
import { AuthEvents } from './auth-events';
import { BEARER_STRATEGY, BearerChallenge } from './bearer.strategy';
import { RequestAuthorizer } from './request-authorizer';

/** FHIR paths anyone may GET: the CapabilityStatement and SMART/OIDC discovery. */
export function isPublicFhirPath(method: string, path: string): boolean {
  if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') return false;
  return path === '/fhir/metadata' || path.startsWith('/fhir/.well-known/');
}

/**
 * The resource server's gate, global: every `/fhir/**` request except
 * discovery and metadata needs a valid bearer token (passport strategy
 * BEARER_STRATEGY: signature, iss, aud, exp, revocation) → `req.auth`; then
 * the scope policy (RequestAuthorizer) decides on the interaction before the
 * controller runs. 401 carries `WWW-Authenticate: Bearer …` (RFC 6750).
 */
@Injectable()
export class FhirAuthGuard extends AuthGuard(BEARER_STRATEGY) {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly authorizer: RequestAuthorizer,
    private readonly events: AuthEvents,
  ) {
    super();
  }

  override getAuthenticateOptions() {
    return { session: false, property: 'auth' };
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<Request>();
    if (!req.path.startsWith('/fhir/') && req.path !== '/fhir') return true;
    if (isPublicFhirPath(req.method, req.path)) return true;
    // development only: without AUTH_REQUIRED a request with no token is an unrestricted internal call
    if (!this.config.authRequired && !req.headers.authorization) return true;
    await super.canActivate(context);
    const auth = (req as Request & { auth: AuthContext }).auth;
    try {
      await this.authorizer.authorize(auth, {
        method: req.method,
        path: req.path.slice('/fhir'.length),
        query: queryPairs(req),
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
    return true;
  }

  override handleRequest<T>(err: unknown, user: T, info: unknown, context: ExecutionContext): T {
    if (err) throw err;
    if (user) return user;
    const req = context.switchToHttp().getRequest<Request>();
    const c = (info ?? {}) as BearerChallenge;
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
    const text = c.error ? `${c.description ?? 'invalid token'}` : 'a bearer access token is required (SMART on FHIR)';
    throw new FhirError(401, [issue('login', text)], { 'WWW-Authenticate': `Bearer ${params.join(', ')}` });
  }
}

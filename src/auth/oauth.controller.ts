import { Controller, Get, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { APP_CONFIG, AppConfig } from '../config/config';
import { logger } from '../logger';
import { AuthorizeFlow, BINDING_COOKIE, FlowResult, Params } from './authorize.service';
import { Form } from './client-auth.service';
import { addressKey } from './credential-lockout';
import { Introspection } from './introspection.service';
import { invalidRequest, OAuthError } from './oauth-error';
import { errorPage } from './pages';
import { RateLimiter } from './rate-limiter';
import { SigningKeys } from './signing-keys.service';
import { TokenEndpoint } from './token-endpoint.service';

/** Security headers of the HTML pages: no framing (clickjacking), no scripts, no referrer. */
const PAGE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
};

/** Token responses must not be cached (RFC 6749 §5.1). */
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/**
 * The OAuth 2.0 endpoints under `/auth`: authorize (+ login, patient picker,
 * consent pages), token, introspect, revoke and the JWKS. Thin: the flows
 * live in AuthorizeFlow and TokenEndpoint.
 */
@Controller('auth')
export class OAuthController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly flow: AuthorizeFlow,
    private readonly tokenEndpoint: TokenEndpoint,
    private readonly introspection: Introspection,
    private readonly keys: SigningKeys,
    private readonly limiter: RateLimiter,
  ) {}

  @Get('authorize')
  authorizeGet(@Req() req: Request, @Res() res: Response) {
    return this.page(req, res, () => this.flow.start(query(req), cookie(req, BINDING_COOKIE)));
  }

  @Post('authorize')
  authorizePost(@Req() req: Request, @Res() res: Response) {
    return this.page(req, res, () => this.flow.start(form(req), cookie(req, BINDING_COOKIE)));
  }

  @Post('login')
  async login(@Req() req: Request, @Res() res: Response) {
    if (await this.limited(req, res, 'login', true)) return;
    return this.page(req, res, () => this.flow.login(form(req), cookie(req, BINDING_COOKIE), req.ip));
  }

  @Post('patient')
  patient(@Req() req: Request, @Res() res: Response) {
    return this.page(req, res, () => this.flow.pickPatient(form(req), cookie(req, BINDING_COOKIE)));
  }

  @Post('consent')
  consent(@Req() req: Request, @Res() res: Response) {
    return this.page(req, res, () => this.flow.consent(form(req), cookie(req, BINDING_COOKIE), req.ip));
  }

  @Post('token')
  async token(@Req() req: Request, @Res() res: Response) {
    if (await this.limited(req, res, 'token')) return;
    return this.json(req, res, () => this.tokenEndpoint.token(req, oauthForm(req)));
  }

  @Post('introspect')
  async introspect(@Req() req: Request, @Res() res: Response) {
    if (await this.limited(req, res, 'token')) return;
    return this.json(req, res, () => this.introspection.introspect(req, oauthForm(req)));
  }

  @Post('revoke')
  async revoke(@Req() req: Request, @Res() res: Response) {
    if (await this.limited(req, res, 'token')) return;
    return this.json(req, res, async () => {
      await this.tokenEndpoint.revoke(req, oauthForm(req));
      return {};
    });
  }

  @Get('jwks')
  async jwks(@Res() res: Response) {
    res.setHeader('Cache-Control', 'public, max-age=60');
    res.json(await this.keys.jwks());
  }

  /** Rate limit per endpoint and client address, an IPv6 one by its /64 (counted in the database, shared by every process). */
  private async limited(req: Request, res: Response, bucket: string, html = false): Promise<boolean> {
    let wait: number;
    try {
      wait = await this.limiter.hit(`${bucket}:${addressKey(req.ip)}`);
    } catch (err: any) {
      // fail closed: without the database the endpoint could not check a credential anyway
      logger.error({ reqId: (req as any).id, err: err?.message }, 'rate limit check failed');
      res.setHeader('Retry-After', '5');
      if (html) res.status(503).set(PAGE_HEADERS).send(errorPage('The service is unavailable. Try again shortly.'));
      else res.status(503).set(NO_STORE).json({ error: 'temporarily_unavailable', error_description: 'try again shortly' });
      return true;
    }
    if (!wait) return false;
    res.setHeader('Retry-After', String(wait));
    if (html) res.status(429).set(PAGE_HEADERS).send(errorPage('Too many requests. Try again in a minute.'));
    else res.status(429).set(NO_STORE).json({ error: 'too_many_requests', error_description: 'rate limit exceeded; retry later' });
    return true;
  }

  private async page(req: Request, res: Response, run: () => Promise<FlowResult>): Promise<void> {
    let r: FlowResult;
    try {
      r = await run();
    } catch (err: any) {
      if (err instanceof OAuthError) r = { status: err.status, html: errorPage(err.description) };
      else {
        logger.error({ reqId: (req as any).id, err: err?.message }, 'authorization page failed');
        r = { status: 500, html: errorPage('Something went wrong. Start again from the app.') };
      }
    }
    if ('redirect' in r) {
      res.set(NO_STORE).redirect(req.method === 'POST' ? 303 : 302, r.redirect);
      return;
    }
    if (r.cookie) {
      const secure = this.config.publicUrl.startsWith('https:') ? '; Secure' : '';
      res.setHeader('Set-Cookie', `${BINDING_COOKIE}=${r.cookie}; Path=/auth; HttpOnly; SameSite=Lax${secure}`);
    }
    res.status(r.status).set(PAGE_HEADERS).send(r.html);
  }

  private async json(req: Request, res: Response, run: () => Promise<object>): Promise<void> {
    try {
      const body = await run();
      res.status(200).set(NO_STORE).json(body);
    } catch (err: any) {
      if (!(err instanceof OAuthError)) {
        logger.error({ reqId: (req as any).id, err: err?.message }, 'OAuth endpoint failed');
        res.status(500).set(NO_STORE).json({ error: 'server_error', error_description: 'internal error' });
        return;
      }
      if (err.status === 401) res.setHeader('WWW-Authenticate', challenge(req, err));
      res.status(err.status).set(NO_STORE).json(err.body());
    }
  }
}

/** String parameters of a parsed form body (anything else is ignored). */
function params(source: unknown): Params {
  const out: Params = {};
  if (!source || typeof source !== 'object') return out;
  for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = checked(k, v);
  }
  return out;
}

/** No OAuth parameter holds control characters (RFC 6749 Appendix A: VSCHAR and space); such a value is refused before any lookup. */
function checked(name: string, value: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new OAuthError('invalid_request', `parameter ${JSON.stringify(name.slice(0, 40))} holds a control character`);
  return value;
}

function query(req: Request): Params {
  const i = req.originalUrl.indexOf('?');
  const out: Params = {};
  if (i < 0) return out;
  // OAuth parameters must not repeat (RFC 6749 §3.1): the first one counts
  for (const [k, v] of new URLSearchParams(req.originalUrl.slice(i + 1))) out[k] ??= checked(k, v);
  return out;
}

function form(req: Request): Form {
  return params(req.body);
}

/**
 * The body of the token, introspection and revocation endpoints: only
 * `application/x-www-form-urlencoded` (RFC 6749 §3.2 and §4.1.3, RFC 7662
 * §2.1, RFC 7009 §2.1); JSON or anything else is `invalid_request`.
 */
function oauthForm(req: Request): Form {
  if (!req.is('application/x-www-form-urlencoded')) {
    throw invalidRequest('the request body must be application/x-www-form-urlencoded');
  }
  return form(req);
}

/**
 * The challenge of a 401 (RFC 7235 §4.1): Bearer with the error for a bearer
 * token (RFC 6750 §3, RFC 7662 §2.3), else Basic, the client authentication
 * scheme (RFC 6749 §5.2).
 */
function challenge(req: Request, err: OAuthError): string {
  if (/^Bearer\b/i.test(req.headers.authorization ?? '')) return `Bearer realm="auth", error="${err.error}"`;
  return 'Basic realm="token"';
}

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

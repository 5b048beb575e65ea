import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { APP_CONFIG, AppConfig } from '../config/config';
import { openidConfiguration, smartConfiguration } from './discovery';

const DISCOVERY_HEADERS = { 'Cache-Control': 'public, max-age=300' };

/** `GET /.well-known/openid-configuration` (public). */
@Controller('.well-known')
export class WellKnownController {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get('openid-configuration')
  openid(@Res() res: Response) {
    res.set(DISCOVERY_HEADERS).json(openidConfiguration(this.config));
  }
}

/**
 * `GET /fhir/.well-known/smart-configuration` and the same OIDC document
 * under the FHIR base, as middleware so that they are answered before the
 * FHIR controller's `:type/:id` route whatever the module order.
 */
export function wellKnownUnderFhir(config: AppConfig) {
  const smart = JSON.stringify(smartConfiguration(config));
  const openid = JSON.stringify(openidConfiguration(config));
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const body = req.path.endsWith('/smart-configuration') ? smart : req.path.endsWith('/openid-configuration') ? openid : undefined;
    if (!body) return next();
    res.set(DISCOVERY_HEADERS).type('application/json').send(body);
  };
}

/**
 * CORS for browser SMART apps (App Launch §"CORS"): discovery, token,
 * introspection, revocation, JWKS and the FHIR API answer any origin.
 * Bearer tokens travel in headers, never cookies, so credentials are not
 * allowed; the authorization pages (navigations) get no CORS headers.
 */
export function cors(req: Request, res: Response, next: NextFunction) {
  const path = req.path;
  const api =
    path.startsWith('/fhir') ||
    path.startsWith('/.well-known/') ||
    ['/auth/token', '/auth/introspect', '/auth/revoke', '/auth/jwks', '/auth/register'].includes(path);
  if (!api) return next();
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader(
    'Access-Control-Expose-Headers',
    'Location, ETag, Last-Modified, Content-Location, WWW-Authenticate, X-Request-Id, X-Progress, Retry-After',
  );
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
    res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, PUT, PATCH, DELETE');
    res.setHeader(
      'Access-Control-Allow-Headers',
      req.headers['access-control-request-headers'] ?? 'Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match',
    );
    res.setHeader('Access-Control-Max-Age', '600');
    res.status(204).end();
    return;
  }
  next();
}

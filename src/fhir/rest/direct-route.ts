import type { IncomingMessage, Server, ServerResponse } from 'http';
import { parse as parseQuery } from 'querystring';
import type { NextFunction, Request, Response } from 'express';
import type { FhirController } from './fhir.controller';
import { FHIR_ID } from '../fhir-id';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

/** The FhirController methods behind the direct route. */
export type FhirDirectRoutes = Pick<
  FhirController,
  | 'read'
  | 'vread'
  | 'typeSearch'
  | 'instanceGet'
  | 'instanceHistory'
  | 'typeHistory'
  | 'systemHistory'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'batchOrTransaction'
>;

/** A request the direct route takes: which controller method, with which path parameters. */
export interface DirectRoute {
  route: keyof FhirDirectRoutes;
  params: Record<string, string>;
}

/** What a request on the direct route passes through, in the order the Express stack runs it. */
export interface DirectRouteSteps {
  /** request id and access log (app.ts) */
  identify: (req: Request, res: Response) => void;
  /** mounted at the root: CORS */
  rootMiddleware: Middleware[];
  /** mounted at /fhir: the audit trail, then content negotiation */
  fhirMiddleware: Middleware[];
  /** mounted at /fhir after those: the body parsers (they always call `next`, later, with or without an error) */
  bodyParsers: Middleware[];
  /** the FHIR auth guard: sets `req.auth` or throws the 401/403 */
  guard: (req: Request, res: Response) => Promise<void>;
  /** the controller whose methods answer (the same ones Express routes to) */
  controller: FhirDirectRoutes;
  /** an error as its OperationOutcome */
  fail: (err: unknown, req: Request, res: Response) => void;
}

/** A type segment, and an id or version id as FHIR defines them (so no percent-decoding is needed). */
const TYPE = /^[A-Z][A-Za-z]{1,63}$/;
/** Served by controllers of their own (AuditEvent) or streamed in their own media type (Binary). */
const OWN_ROUTES = new Set(['AuditEvent', 'Binary']);
const type = (s: string) => TYPE.test(s) && !OWN_ROUTES.has(s);

/**
 * The direct route: the interactions that dominate a FHIR server's traffic (read, vread, type and
 * compartment search, history at every level; create, update, patch, delete of one instance;
 * batch and transaction Bundles) answered from node:http before Express sees them.
 *
 * Why: Express gives every request and response its own prototypes (`Object.setPrototypeOf`),
 * which throws V8 off Node's own http objects for the rest of the request. Measured on the team's
 * machine: a bare node:http answer costs 46 µs of CPU, the same answer after Express's prototype
 * swap 151 µs, and through the whole Express + Nest stack 235 µs, about half of what a read
 * costs (README, Request path). The direct route runs exactly the steps the Express stack runs
 * for these requests (the same functions, in the same order: request id, CORS, audit, content
 * negotiation, the body parsers, the auth guard, the controller method, the OperationOutcome on
 * error) and gives them the few request properties they read (`originalUrl`, `path`, `query`,
 * `ip`) as plain values. Anything else (HEAD, OPTIONS, conditional update/patch/delete, a GET with
 * a body, `$operations`, `_search`, system search, Binary, AuditEvent, unusual paths) goes to
 * Express untouched.
 */
export function installDirectRoute(server: Server, steps: DirectRouteSteps): void {
  const viaExpress = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!route(req, res, steps)) for (const listener of viaExpress) listener.call(server, req, res);
  });
}

/** The controller method (and path parameters) of a request the direct route takes; else undefined. */
export function directRouteOf(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>): DirectRoute | undefined {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (req.method === 'GET') return hasBody(req) ? undefined : getRoute(path);
  if (req.method === 'POST' && path === '/fhir') return { route: 'batchOrTransaction', params: {} };
  if (!path.startsWith('/fhir/')) return undefined;
  const [t, id, ...more] = path.slice('/fhir/'.length).split('/');
  if (more.length || !type(t)) return undefined;
  // create; update, patch and delete of one instance (conditional ones, with a search at type level, go to Express)
  if (id === undefined) return req.method === 'POST' ? { route: 'create', params: { type: t } } : undefined;
  const instance = INSTANCE_WRITES[req.method ?? ''];
  return instance && FHIR_ID.test(id) ? { route: instance, params: { type: t, id } } : undefined;
}

const INSTANCE_WRITES: Record<string, DirectRoute['route']> = { PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

function getRoute(path: string): DirectRoute | undefined {
  if (!path.startsWith('/fhir/')) return undefined;
  const [t, id, third, vid, ...more] = path.slice('/fhir/'.length).split('/');
  if (more.length) return undefined;
  if (t === '_history') return id === undefined ? { route: 'systemHistory', params: {} } : undefined;
  if (!type(t)) return undefined;
  if (id === undefined) return { route: 'typeSearch', params: { type: t } };
  if (id === '_history') return third === undefined ? { route: 'typeHistory', params: { type: t } } : undefined;
  if (!FHIR_ID.test(id)) return undefined;
  if (third === undefined) return { route: 'read', params: { type: t, id } };
  if (third === '_history') {
    if (vid === undefined) return { route: 'instanceHistory', params: { type: t, id } };
    return FHIR_ID.test(vid) ? { route: 'vread', params: { type: t, id, vid } } : undefined;
  }
  // compartment search: Patient/123/Observation
  return vid === undefined && type(third) ? { route: 'instanceGet', params: { type: t, id, op: third } } : undefined;
}

function route(incoming: IncomingMessage, res: ServerResponse, steps: DirectRouteSteps): boolean {
  const target = directRouteOf(incoming);
  if (!target) return false;
  const url = incoming.url!;
  const q = url.indexOf('?');
  // the request properties Express would give (`query`: its 'simple' parser, as app.ts sets)
  const req = Object.assign(incoming, {
    originalUrl: url,
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? {} : parseQuery(url.slice(q + 1)),
    ip: incoming.socket.remoteAddress,
  }) as unknown as Request;
  const response = res as Response;
  handle(req, response, steps, target).catch((err) => steps.fail(err, req, response));
  return true;
}

async function handle(req: Request, res: Response, steps: DirectRouteSteps, target: DirectRoute) {
  steps.identify(req, res);
  if (!steps.rootMiddleware.every((mw) => passes(mw, req, res))) return;
  // middleware mounted at /fhir sees the path below the mount point, as under Express
  const { url, path } = req;
  Object.assign(req, { url: url.slice('/fhir'.length), path: path.slice('/fhir'.length) });
  try {
    if (!steps.fhirMiddleware.every((mw) => passes(mw, req, res))) return;
    if (req.method !== 'GET') for (const mw of steps.bodyParsers) await parsed(mw, req, res);
  } finally {
    Object.assign(req, { url, path });
  }
  await steps.guard(req, res);
  await call(steps.controller, target, req, res);
}

/** The controller method as Nest would call it: `@Param()` values, or the one `@Param('type')`. */
function call(c: FhirDirectRoutes, { route, params }: DirectRoute, req: Request, res: Response): Promise<unknown> {
  switch (route) {
    case 'systemHistory':
    case 'batchOrTransaction':
      return c[route](req, res);
    case 'typeSearch':
    case 'typeHistory':
    case 'create':
      return c[route](params.type, req, res);
    default:
      return c[route](params, req, res);
  }
}

/** Runs a synchronous Express middleware: true when it called `next()`, throws what it passed to `next(err)`. */
function passes(mw: Middleware, req: Request, res: Response): boolean {
  let passed = false;
  let error: unknown;
  mw(req, res, (err?: unknown) => {
    passed = true;
    error = err;
  });
  if (error) throw error;
  return passed;
}

/** Runs a body parser: resolves when it called `next()`, rejects with what it passed to `next(err)`. */
function parsed(mw: Middleware, req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => mw(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
}

function hasBody(req: Pick<IncomingMessage, 'headers'>): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

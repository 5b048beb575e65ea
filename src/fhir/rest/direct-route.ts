import type { IncomingMessage, Server, ServerResponse } from 'http';
import { parse as parseQuery } from 'querystring';
import type { NextFunction, Request, Response } from 'express';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

/** What a GET read or type search passes through, in the order the Express stack runs it. */
export interface DirectRouteSteps {
  /** request id and access log (app.ts) */
  identify: (req: Request, res: Response) => void;
  /** mounted at /fhir: the audit trail, then content negotiation */
  fhirMiddleware: Middleware[];
  /** mounted at the root: CORS */
  rootMiddleware: Middleware[];
  /** the FHIR auth guard: sets `req.auth` or throws the 401/403 */
  guard: (req: Request, res: Response) => Promise<void>;
  read: (type: string, id: string, req: Request, res: Response) => Promise<unknown>;
  search: (type: string, req: Request, res: Response) => Promise<unknown>;
  /** an error as its OperationOutcome */
  fail: (err: unknown, req: Request, res: Response) => void;
}

/** `/fhir/{type}` and `/fhir/{type}/{id}`: ids as FHIR defines them, so no percent-decoding is needed. */
const TYPE_OR_INSTANCE = /^\/fhir\/([A-Z][A-Za-z]{1,63})(?:\/([A-Za-z0-9\-.]{1,64}))?$/;
/** Served by controllers of their own (AuditEvent) or streamed in their own media type (Binary). */
const OWN_ROUTES = new Set(['AuditEvent', 'Binary']);

/**
 * The direct route: GET read (`[type]/[id]`) and GET type search (`[type]?…`), the interactions
 * that dominate a FHIR server's traffic, answered from node:http before Express sees them.
 *
 * Why: Express gives every request and response its own prototypes (`Object.setPrototypeOf`),
 * which throws V8 off Node's own http objects for the rest of the request. Measured on the team's
 * machine: a bare node:http answer costs 46 µs of CPU, the same answer after Express's prototype
 * swap 151 µs, and through the whole Express + Nest stack 235 µs, about half of what a read
 * costs (README, Request path). The direct route runs exactly the steps the Express stack runs
 * for these requests (the same functions, in the same order: request id, audit, content
 * negotiation, CORS, the auth guard, the controller method, the OperationOutcome on error) and
 * gives them the few request properties they read (`originalUrl`, `path`, `query`, `ip`) as plain
 * values. Anything else (other methods, bodies, operations, `_history`, Binary, AuditEvent,
 * unusual paths) goes to Express untouched.
 */
export function installDirectRoute(server: Server, steps: DirectRouteSteps): void {
  const viaExpress = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!route(req, res, steps)) for (const listener of viaExpress) listener.call(server, req, res);
  });
}

/** The read (`id` set) or type search a request is, when the direct route takes it; else undefined. */
export function directRouteOf(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>): { type: string; id?: string } | undefined {
  if (req.method !== 'GET' || hasBody(req)) return undefined;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const m = TYPE_OR_INSTANCE.exec(q < 0 ? url : url.slice(0, q));
  if (!m || OWN_ROUTES.has(m[1])) return undefined;
  return { type: m[1], id: m[2] };
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
  handle(req, response, steps, target.type, target.id).catch((err) => steps.fail(err, req, response));
  return true;
}

async function handle(req: Request, res: Response, steps: DirectRouteSteps, type: string, id: string | undefined) {
  steps.identify(req, res);
  // middleware mounted at /fhir sees the path below the mount point, as under Express
  const { url, path } = req;
  Object.assign(req, { url: url.slice('/fhir'.length), path: path.slice('/fhir'.length) });
  const passedFhir = steps.fhirMiddleware.every((mw) => passes(mw, req, res));
  Object.assign(req, { url, path });
  if (!passedFhir || !steps.rootMiddleware.every((mw) => passes(mw, req, res))) return;
  await steps.guard(req, res);
  if (id === undefined) await steps.search(type, req, res);
  else await steps.read(type, id, req, res);
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

function hasBody(req: Pick<IncomingMessage, 'headers'>): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

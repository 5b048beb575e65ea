import type { Request, Response } from 'express';
import { issue, operationOutcome } from '../fhir/errors';
import { logger } from '../logger';

const AUDIT_FAILED = JSON.stringify(
  operationOutcome([issue('transient', 'the audit trail could not record this access; nothing was disclosed, try again')]),
);

/**
 * Holds back a response's first byte (`res.write` / `res.end`) until
 * `audit(body)` resolves: the audit row is durable before anything leaves.
 * `body` is what `res.end` was given (undefined for streamed responses).
 * If it rejects, the client gets 503 (an OperationOutcome) instead of the
 * data. Streams see backpressure (`write` returns false, then `drain`).
 */
export function holdResponse(req: Request, res: Response, audit: (body: unknown) => Promise<unknown> | undefined): void {
  const end = res.end;
  const write = res.write;
  let state: 'open' | 'pending' | 'done' = 'open';
  let blocked = false;
  const queued: [Function, unknown[]][] = [];

  const release = () => {
    state = 'done';
    res.write = write;
    res.end = end;
    for (const [fn, args] of queued.splice(0)) fn.apply(res, args);
    if (blocked) res.emit('drain');
  };
  const fail = (err: any) => {
    state = 'done';
    logger.error({ reqId: (req as any).id, err: err?.message }, 'audit event could not be recorded: request refused');
    res.write = () => false;
    res.end = (() => res) as any;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // what described the withheld answer goes; the request id and CORS stay (a browser app must read the 503)
    for (const h of res.getHeaderNames()) if (h !== 'x-request-id' && !h.startsWith('access-control-')) res.removeHeader(h);
    res.statusCode = 503;
    res.setHeader('Content-Type', 'application/fhir+json; charset=utf-8');
    res.setHeader('Retry-After', '1');
    (end as Function).call(res, AUDIT_FAILED);
  };
  const begin = (body: unknown) => {
    state = 'pending';
    let pending: Promise<unknown> | undefined;
    try {
      pending = audit(body);
    } catch (err) {
      return fail(err);
    }
    if (pending) pending.then(release, fail);
    else release();
  };

  res.write = function (this: Response, ...args: unknown[]) {
    if (state === 'done') return (write as Function).apply(this, args);
    queued.push([write, args]);
    if (state === 'open') begin(undefined);
    blocked = true;
    return false;
  } as any;
  res.end = function (this: Response, ...args: unknown[]) {
    if (state === 'done') return (end as Function).apply(this, args);
    queued.push([end, args]);
    if (state === 'open') begin(typeof args[0] === 'function' ? undefined : args[0]);
    return this;
  } as any;
}

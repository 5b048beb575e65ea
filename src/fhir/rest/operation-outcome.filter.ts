import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { isUnstorableText } from '../../database/sql-errors';
import { logger } from '../../logger';
import { FhirError, issue, operationOutcome, IssueCode } from '../errors';
import { allowedMethods } from './allowed-methods';
import { reply } from './fhir-response';

const BODY_PARSER_ERRORS: Record<string, [number, IssueCode, string]> = {
  'entity.too.large': [413, 'too-costly', 'request body is larger than the configured limit'],
  'entity.parse.failed': [400, 'structure', 'request body is not valid JSON'],
  'charset.unsupported': [415, 'not-supported', 'unsupported charset'],
  'encoding.unsupported': [415, 'not-supported', 'unsupported content encoding'],
  'request.aborted': [400, 'incomplete', 'request aborted'],
};

const STATUS_CODES: Record<number, IssueCode> = {
  400: 'invalid',
  401: 'login',
  403: 'forbidden',
  404: 'not-found',
  405: 'not-supported',
  406: 'not-supported',
  409: 'conflict',
  410: 'deleted',
  412: 'conflict',
  413: 'too-costly',
  415: 'not-supported',
  422: 'processing',
  429: 'throttled',
};

/**
 * Every error leaves as an OperationOutcome with the right status; never a
 * stack trace. Unexpected errors are logged (message only: no PHI) as 500.
 */
@Catch()
export class OperationOutcomeFilter implements ExceptionFilter {
  catch(err: any, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    sendOutcome(err, ctx.getRequest<Request>(), ctx.getResponse<Response>());
  }
}

/** Answers an error as its OperationOutcome (the filter, the body-parser errors, the direct route). */
export function sendOutcome(err: unknown, req: Request, res: Response): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  reply(req, res, toOutcome(err, req));
}

export function toOutcome(err: any, req?: Request): { status: number; body: object; headers: Record<string, string> } {
  if (err instanceof FhirError) {
    return { status: err.status, body: err.toOperationOutcome(), headers: err.status === 405 ? withAllow(err.headers, req) : err.headers };
  }
  if (err?.type && BODY_PARSER_ERRORS[err.type]) {
    const [status, code, text] = BODY_PARSER_ERRORS[err.type];
    return { status, body: operationOutcome([issue(code, text)]), headers: {} };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const msg = status === 404 ? `no route for ${req?.method} ${req?.path}` : err.message;
    return { status, body: operationOutcome([issue(STATUS_CODES[status] ?? 'exception', msg)]), headers: {} };
  }
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    // input nested beyond what a recursive walk can take (the validator refuses deep resources first)
    logger.warn({ reqId: (req as any)?.id }, 'request nested too deeply: refused');
    return { status: 400, body: operationOutcome([issue('structure', 'the request is nested too deeply to process')]), headers: {} };
  }
  if (isUnstorableText(err)) {
    return { status: 400, body: operationOutcome([issue('invalid', 'a value in the request holds a character that cannot be stored or searched (such as U+0000)')]), headers: {} };
  }
  logger.error({ reqId: (req as any)?.id, err: err?.message, code: err?.code }, 'unhandled error');
  return {
    status: 500,
    body: operationOutcome([issue('exception', 'internal server error')]),
    headers: {},
  };
}

/** A 405 MUST list the target's supported methods in `Allow` (RFC 9110 §15.5.6); a thrower may have set it already. */
function withAllow(headers: Record<string, string>, req?: Request): Record<string, string> {
  if (headers.Allow !== undefined || !req) return headers;
  const allowed = allowedMethods(req.originalUrl ?? req.url ?? '');
  return allowed ? { ...headers, Allow: allowed.join(', ') } : headers;
}

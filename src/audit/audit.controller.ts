import { All, Controller, Get, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { authOf } from '../auth/auth-context';
import { APP_CONFIG, AppConfig } from '../config/config';
import type { Queryable } from '../database/database';
import type { EntryRequest } from '../fhir/bundle/bundle.types';
import { FhirError } from '../fhir/errors';
import { queryPairs } from '../fhir/rest/content-negotiation';
import { formBodyPairs } from '../fhir/rest/query-string';
import { FhirResponse, reply } from '../fhir/rest/fhir-response';
import { header, parsePrefer, RequestContext } from '../fhir/rest/request-context';
import { AuditEventService } from './audit-event.service';

/**
 * `/fhir/AuditEvent`: registered before the generic FHIR controller (the
 * AuditModule comes first in AppModule), so the audit trail is served from
 * its own table, read-only: create, update, patch and delete answer 405.
 */
@Controller('fhir')
export class AuditController {
  constructor(
    private readonly events: AuditEventService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private async run(req: Request, res: Response, work: (ctx: RequestContext) => Promise<FhirResponse>) {
    const ctx: RequestContext = {
      baseUrl: this.config.fhirBaseUrl,
      requestId: String((req as any).id ?? ''),
      prefer: parsePrefer(header(req, 'prefer')),
      auth: authOf(req),
      remoteAddress: req.ip,
    };
    reply(req, res, await work(ctx));
  }

  @Get('AuditEvent')
  search(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => this.events.search(ctx, queryPairs(req)));
  }

  @Post('AuditEvent/_search')
  searchPost(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => this.events.search(ctx, [...queryPairs(req), ...formBodyPairs(req)]));
  }

  /** compartment search (search.html#compartments): `Patient/1/AuditEvent`, `Practitioner/2/AuditEvent` */
  @Get(':ctype/:cid/AuditEvent')
  compartment(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => this.events.search(ctx, queryPairs(req), { type: p.ctype, id: p.cid }));
  }

  /** No history of the trail (type or instance): the routes below would take `_history` for an id. */
  @Get(['AuditEvent/_history', 'AuditEvent/:id/_history'])
  noHistory(@Req() req: Request, @Res() res: Response) {
    return this.readOnly(req, res);
  }

  @Get('AuditEvent/:id/_history/:vid')
  vread(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => this.events.read(ctx, p.id, p.vid));
  }

  @Get('AuditEvent/:id')
  read(@Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => this.events.read(ctx, id));
  }

  /** Everything else on AuditEvent: the trail cannot be changed through the API. */
  @All(['AuditEvent', 'AuditEvent/*rest'])
  readOnly(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, async () => {
      throw FhirError.of(405, 'not-supported', `${req.method} is not allowed on ${req.path}: the audit trail is read-only`);
    });
  }
}

/**
 * A GET entry of a batch or transaction on the trail (`EntryReader.serveOwnType`): the same answers
 * as the routes above, and 405 for the history they refuse; undefined for what is not AuditEvent's.
 */
export function auditEntryReader(events: AuditEventService, e: EntryRequest): ((ctx: RequestContext, q?: Queryable) => Promise<FhirResponse>) | undefined {
  const { resourceType: type, id, rest, params } = e;
  // `q`: a transaction's own connection (a pool connection of its own could wait for the one it holds)
  if (type !== undefined && id !== undefined && rest.length === 1 && rest[0] === 'AuditEvent') {
    return (ctx, q) => events.search(ctx, params, { type, id }, q);
  }
  if (type !== 'AuditEvent') return undefined;
  if (id === undefined && rest.length === 0) return (ctx, q) => events.search(ctx, params, undefined, q);
  if (id !== undefined && rest.length === 0) return (ctx, q) => events.read(ctx, id, undefined, q);
  if (id !== undefined && rest.length === 2 && rest[0] === '_history') return (ctx, q) => events.read(ctx, id, rest[1], q);
  throw FhirError.of(405, 'not-supported', `GET ${e.url} is not allowed: the audit trail has no history`);
}

import { All, Controller, Delete, Get, Inject, Param, Patch, Post, Put, Req, Res } from '@nestjs/common';
import { authOf } from '../../auth/auth-context';
import { auditScopeOf } from '../../audit/audit-scope';
import { BinaryService } from '../binary/binary.service';
import { BundleService } from '../bundle/bundle.service';
import { ConditionalService } from '../bundle/conditional.service';
import type { Request, Response } from 'express';
import { FhirError, notFound, notSupported } from '../errors';
import { assertFhirId } from '../fhir-id';
import { OperationLevel, OperationRegistry } from '../operations/operation-registry';
import { SearchService } from '../search/search.service';
import { CapabilityService } from './capability.service';
import { queryPairs } from './content-negotiation';
import { formBodyPairs } from './query-string';
import { readShaping } from '../search/result-shaping';
import { FhirResponse, reply } from './fhir-response';
import { HistoryService } from './history.service';
import { InteractionsService } from './interactions.service';
import { header, parseETagVersion, parsePrefer, RequestContext } from './request-context';
import { BASE_URL } from './rest.tokens';

/**
 * The FHIR RESTful API URL space. Thin: each route parses the HTTP request
 * and hands over to a service; `$name` segments go to the OperationRegistry.
 */
@Controller('fhir')
export class FhirController {
  constructor(
    @Inject(BASE_URL) private readonly baseUrl: string,
    private readonly interactions: InteractionsService,
    private readonly historyService: HistoryService,
    private readonly searchService: SearchService,
    private readonly capability: CapabilityService,
    private readonly operations: OperationRegistry,
    private readonly binary: BinaryService,
    private readonly bundles: BundleService,
    private readonly conditional: ConditionalService,
  ) {}

  private ctx(req: Request): RequestContext {
    return {
      baseUrl: this.baseUrl,
      requestId: String((req as any).id ?? ''),
      prefer: parsePrefer(header(req, 'prefer')),
      auth: authOf(req),
      remoteAddress: req.ip,
      audit: auditScopeOf(req),
    };
  }

  private async run(req: Request, res: Response, work: (ctx: RequestContext) => Promise<FhirResponse | undefined>) {
    const r = await work(this.ctx(req));
    if (r) reply(req, res, r);
  }

  /** An interaction on `[type]/[id]`: a malformed id is a 400, never a database query. */
  private instance(req: Request, res: Response, p: Record<string, string>, work: (ctx: RequestContext) => Promise<FhirResponse | undefined>) {
    return this.run(req, res, (ctx) => {
      assertFhirId(p.id);
      return work(ctx);
    });
  }

  // ---- system level --------------------------------------------------------

  @Get('metadata')
  metadata(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, async () => ({ status: 200, body: this.capability.capabilityStatement() }));
  }

  @Get('_history')
  systemHistory(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => this.historyService.history(ctx, queryPairs(req)));
  }

  @Get()
  systemSearch(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => this.searchService.search(ctx, { params: queryPairs(req) }));
  }

  /** batch or transaction Bundle (http.html §3.1.0.11) */
  @Post()
  batchOrTransaction(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => this.bundles.process(ctx, req.body));
  }

  @Post('_search')
  systemSearchPost(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => this.searchService.search(ctx, { params: formAndQuery(req) }));
  }

  // ---- type level ----------------------------------------------------------

  @Get(':type/_history')
  typeHistory(@Param('type') type: string, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => this.historyService.history(ctx, queryPairs(req), type));
  }

  @Post(':type/_search')
  typeSearchPost(@Param('type') type: string, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => {
      this.interactions.assertType(type);
      return this.searchService.search(ctx, { resourceType: type, params: formAndQuery(req) });
    });
  }

  @Get(':type')
  typeSearch(@Param('type') type: string, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => {
      if (type.startsWith('$')) return this.operation(ctx, req, res, 'system', type);
      this.interactions.assertType(type);
      return this.searchService.search(ctx, { resourceType: type, params: queryPairs(req) });
    });
  }

  @Post(':type')
  create(@Param('type') type: string, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => {
      if (type.startsWith('$')) return this.operation(ctx, req, res, 'system', type);
      if (type === 'Binary') return this.binary.create(ctx, req).then((r) => this.interactions.writeResponse(ctx, r));
      const ifNoneExist = header(req, 'if-none-exist');
      if (ifNoneExist !== undefined) return this.conditional.create(ctx, type, req.body, ifNoneExist);
      return this.interactions.create(ctx, type, req.body);
    });
  }

  // ---- instance level ------------------------------------------------------

  @Get(':type/:id/_history/:vid')
  vread(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.instance(req, res, p, (ctx) =>
      p.type === 'Binary' ? this.binary.read(ctx, req, res, p.id, p.vid) : this.interactions.vread(p.type, p.id, p.vid, readShaping(req.query)),
    );
  }

  @Get(':type/:id/_history')
  instanceHistory(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.instance(req, res, p, (ctx) => this.historyService.history(ctx, queryPairs(req), p.type, p.id));
  }

  @Get(':type/:id')
  read(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => {
      if (p.id.startsWith('$')) return this.operation(ctx, req, res, 'type', p.id, p.type);
      assertFhirId(p.id);
      if (p.type === 'Binary') return this.binary.read(ctx, req, res, p.id);
      return this.interactions.read(
        p.type,
        p.id,
        { ifNoneMatch: parseETagVersion(header(req, 'if-none-match'), 'If-None-Match'), ifModifiedSince: httpDate(header(req, 'if-modified-since')) },
        readShaping(req.query),
      );
    });
  }

  @Post(':type/:id')
  typeOperationPost(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => {
      if (p.id.startsWith('$')) return this.operation(ctx, req, res, 'type', p.id, p.type);
      throw FhirError.of(405, 'not-supported', 'POST to an instance is not allowed; use PUT to update');
    });
  }

  @Get(':type/:id/:op')
  instanceGet(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.instance(req, res, p, (ctx) => {
      if (p.op.startsWith('$')) return this.operation(ctx, req, res, 'instance', p.op, p.type, p.id);
      return this.compartmentSearch(ctx, p, queryPairs(req));
    });
  }

  /** compartment search by POST with a form body (http.html#search): Patient/123/Observation/_search */
  @Post(':type/:id/:op/_search')
  compartmentSearchPost(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.instance(req, res, p, (ctx) => this.compartmentSearch(ctx, p, formAndQuery(req)));
  }

  /** Patient/123/Observation, or Patient/123/* (every type of the compartment: search.html#compartments) */
  private compartmentSearch(ctx: RequestContext, p: Record<string, string>, params: [string, string][]) {
    this.interactions.assertType(p.type);
    if (p.op !== '*') this.interactions.assertType(p.op);
    return this.searchService.search(ctx, {
      resourceType: p.op === '*' ? undefined : p.op,
      params,
      compartment: { resourceType: p.type, id: p.id },
    });
  }

  @Post(':type/:id/:op')
  instancePost(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.instance(req, res, p, (ctx) => {
      if (p.op.startsWith('$')) return this.operation(ctx, req, res, 'instance', p.op, p.type, p.id);
      throw notFound(`no route for POST ${req.path}`);
    });
  }

  /**
   * An operation on a historical version (`$meta`, R4 resource-operation-meta.html), authorized like
   * the vread. Operations that write a new version (`$meta-add`, `$meta-delete`) work on the current
   * version only: 405 here (R4 4.0.1 dropped STU3's text about changing the meta of a past version).
   */
  @Get(':type/:id/_history/:vid/:op')
  versionOperationGet(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.instance(req, res, p, (ctx) => this.versionOperation(ctx, req, res, p));
  }

  @Post(':type/:id/_history/:vid/:op')
  versionOperationPost(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.instance(req, res, p, (ctx) => this.versionOperation(ctx, req, res, p));
  }

  private versionOperation(ctx: RequestContext, req: Request, res: Response, p: Record<string, string>) {
    if (!p.op.startsWith('$')) throw FhirError.of(405, 'not-supported', `${req.method} is not supported on ${req.path}`);
    return this.operation(ctx, req, res, 'instance', p.op, p.type, p.id, p.vid);
  }

  @Put(':type/:id')
  update(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => {
      const ifMatch = parseETagVersion(header(req, 'if-match'), 'If-Match');
      if (p.type === 'Binary') return this.binary.update(ctx, req, p.id, ifMatch).then((r) => this.interactions.writeResponse(ctx, r));
      return this.interactions.update(ctx, p.type, p.id, req.body, ifMatch);
    });
  }

  @Patch(':type/:id')
  patch(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.instance(req, res, p, (ctx) =>
      this.interactions.patch(ctx, p.type, p.id, req.body, parseETagVersion(header(req, 'if-match'), 'If-Match')),
    );
  }

  /** conditional update: PUT [type]?search */
  @Put(':type')
  conditionalUpdate(@Param('type') type: string, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) =>
      this.conditional.update(ctx, type, queryPairs(req), req.body, parseETagVersion(header(req, 'if-match'), 'If-Match')),
    );
  }

  /** conditional patch: PATCH [type]?search */
  @Patch(':type')
  conditionalPatch(@Param('type') type: string, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) =>
      this.conditional.patch(ctx, type, queryPairs(req), req.body, parseETagVersion(header(req, 'if-match'), 'If-Match')),
    );
  }

  /** DELETE on a system operation URL (Bulk Data: cancel an export at its status URL), else conditional delete. */
  @Delete(':type')
  deleteOperation(@Param('type') type: string, @Req() req: Request, @Res() res: Response) {
    return this.run(req, res, (ctx) => {
      if (type.startsWith('$')) return this.operation(ctx, req, res, 'system', type);
      return this.conditional.delete(ctx, type, queryPairs(req));
    });
  }

  @Delete(':type/:id')
  delete(@Param() p: Record<string, string>, @Req() req: Request, @Res() res: Response) {
    return this.instance(req, res, p, (ctx) =>
      this.interactions.delete(ctx, p.type, p.id, parseETagVersion(header(req, 'if-match'), 'If-Match')),
    );
  }

  /** Anything else under /fhir: 405 for a known path shape with the wrong method, else 404. */
  @All('*path')
  fallback(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, async () => {
      throw FhirError.of(405, 'not-supported', `${req.method} is not supported on ${req.path}`);
    });
  }

  private async operation(
    ctx: RequestContext,
    req: Request,
    res: Response,
    level: OperationLevel,
    segment: string,
    resourceType?: string,
    id?: string,
    versionId?: string,
  ): Promise<FhirResponse | undefined> {
    if (resourceType) this.interactions.assertType(resourceType);
    const op = this.operations.resolve({ segment, level, resourceType, id, versionId }, req.method);
    const url = req.originalUrl.replace(/^\/fhir/, '');
    return op.invoke({ ctx, level, resourceType, id, versionId, params: queryPairs(req), body: req.body, method: req.method, url, res });
  }
}

/** POST _search: form body parameters plus any in the URL (search.html#search: both are the search). */
function formAndQuery(req: Request): [string, string][] {
  return [...queryPairs(req), ...formBodyPairs(req)];
}

function httpDate(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

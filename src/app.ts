import { randomUUID } from 'crypto';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import * as express from 'express';
import { AppModule } from './app.module';
import { auditMiddleware } from './audit/audit.middleware';
import { AuditService } from './audit/audit.service';
import { AppConfig } from './config/config';
import { isRawBinaryUpload } from './fhir/binary/binary-http';
import { contentNegotiation } from './fhir/rest/content-negotiation';
import { OperationOutcomeFilter, sendOutcome } from './fhir/rest/operation-outcome.filter';
import { answerClientErrors } from './fhir/rest/client-errors';
import { installDirectRoute } from './fhir/rest/direct-route';
import { keepRawForm } from './fhir/rest/query-string';
import { FhirController } from './fhir/rest/fhir.controller';
import { FhirAuthGuard } from './auth/fhir-auth.guard';
import { cors } from './auth/well-known';
import { logger } from './logger';

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** Gives the request its id (`X-Request-Id`: the client's when well-formed) and, at level info, its access log line. */
export function identifyRequest(req: express.Request, res: express.Response): void {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && REQUEST_ID_RE.test(incoming) ? incoming : randomUUID();
  (req as any).id = id;
  res.setHeader('X-Request-Id', id);
  // the access line is at level info: below it, no listener per request
  if (logger.isLevelEnabled('info')) {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      logger.info(
        { reqId: id, method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - start) / 1e6 },
        'request',
      );
    });
  }
}

/** Builds the Nest application (used by main.ts and the e2e tests). */
export async function createApp(config: AppConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    abortOnError: false,
    logger: ['error', 'warn'],
  });
  app.disable('x-powered-by');
  app.set('etag', false);
  // only _format and _pretty are read from req.query (search parses the raw query string itself): no qs
  app.set('query parser', 'simple');

  // request id + one structured access log line per request (ids and status only: no PHI)
  app.use((req: express.Request, res: express.Response, next: express.NextFunction) => {
    identifyRequest(req, res);
    next();
  });
  // CORS first: every answer a browser app can get, including the 406/413/415 sent before any route, carries it
  app.use(cors);
  // audit trail (src/audit): every /fhir answer waits until its AuditEvent is durable
  const auditRequests = auditMiddleware(app.get(AuditService));
  app.use('/fhir', auditRequests);
  app.use('/fhir', contentNegotiation);
  const jsonTypes = ['application/fhir+json', 'application/json', 'application/json+fhir', 'application/json-patch+json'];
  // a raw Binary document (any Content-Type) skips the parsers: BinaryService streams it into storage
  const unlessRawBinary = (parser: express.RequestHandler): express.RequestHandler => (req, res, next) =>
    isRawBinaryUpload(req) ? next() : parser(req, res, next);
  const bodyParsers = [
    unlessRawBinary(express.json({ type: jsonTypes, limit: config.maxBodyBytes, strict: false })),
    unlessRawBinary(express.urlencoded({ extended: false, limit: config.maxBodyBytes, verify: keepRawForm })),
  ];
  for (const parser of bodyParsers) app.use('/fhir', parser);
  // body-parser errors (413, bad JSON) become OperationOutcomes
  app.use((err: any, req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (!err) return next();
    sendOutcome(err, req, res);
  });
  app.useGlobalFilters(new OperationOutcomeFilter());
  // the frequent interactions (read, vread, search, history, create, update, patch, delete, Bundles) skip Express (same steps, same order: src/fhir/rest/direct-route.ts)
  const guard = app.get(FhirAuthGuard);
  installDirectRoute(app.getHttpServer(), {
    identify: identifyRequest,
    rootMiddleware: [cors],
    fhirMiddleware: [auditRequests, contentNegotiation],
    bodyParsers,
    guard: (req, res) => guard.check(req, res),
    controller: app.get(FhirController),
    fail: sendOutcome,
  });
  // what Node's HTTP parser refuses (a URL past 16 KB, malformed HTTP) leaves as an OperationOutcome too
  answerClientErrors(app.getHttpServer());
  app.enableShutdownHooks();
  return app;
}

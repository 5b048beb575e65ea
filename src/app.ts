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
import { OperationOutcomeFilter, toOutcome } from './fhir/rest/operation-outcome.filter';
import { reply } from './fhir/rest/fhir-response';
import { logger } from './logger';

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

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
    next();
  });
  // audit trail (src/audit): every /fhir answer waits until its AuditEvent is durable
  app.use('/fhir', auditMiddleware(app.get(AuditService)));
  app.use('/fhir', contentNegotiation);
  const jsonTypes = ['application/fhir+json', 'application/json', 'application/json+fhir', 'application/json-patch+json'];
  // a raw Binary document (any Content-Type) skips the parsers: BinaryService streams it into storage
  const unlessRawBinary = (parser: express.RequestHandler): express.RequestHandler => (req, res, next) =>
    isRawBinaryUpload(req) ? next() : parser(req, res, next);
  app.use('/fhir', unlessRawBinary(express.json({ type: jsonTypes, limit: config.maxBodyBytes, strict: false })));
  app.use('/fhir', unlessRawBinary(express.urlencoded({ extended: false, limit: config.maxBodyBytes })));
  // body-parser errors (413, bad JSON) become OperationOutcomes
  app.use((err: any, req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (!err) return next();
    const o = toOutcome(err, req);
    reply(req, res, o);
  });
  app.useGlobalFilters(new OperationOutcomeFilter());
  app.enableShutdownHooks();
  return app;
}

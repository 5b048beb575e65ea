import { Global, Inject, MiddlewareConsumer, Module, NestModule, OnApplicationBootstrap, OnApplicationShutdown, RequestMethod } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { CapabilityStatement } from 'fhir/r4';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Database } from '../database/database';
import { AuthEvents } from '../auth/auth-events';
import { EntryReader } from '../fhir/bundle/entry-reader';
import { CapabilityService } from '../fhir/rest/capability.service';
import { logger } from '../logger';
import { AuditEventService } from './audit-event.service';
import { AuditRetention } from './audit-retention';
import { AUDIT_SEARCH_PARAMS } from './audit-search';
import { AUDIT_CONFIG, AuditConfig, loadAuditConfig } from './audit.config';
import { AuditController, auditEntryReader } from './audit.controller';
import { AuditService } from './audit.service';
import { authAuditMiddleware, recordAuthEvent } from './security-events';

/**
 * The audit trail (IHE BALP AuditEvents, tamper-evident chain). Global:
 * InteractionsService, bundles and the auth module inject AuditService.
 * Imported before the REST module so `/fhir/AuditEvent` routes come first.
 */
@Global()
@Module({
  controllers: [AuditController],
  providers: [
    { provide: AUDIT_CONFIG, inject: [APP_CONFIG], useFactory: (c: AppConfig) => loadAuditConfig(process.env, c.dataDir) },
    AuditService,
    AuditEventService,
  ],
  exports: [AuditService, AUDIT_CONFIG],
})
export class AuditModule implements NestModule, OnApplicationBootstrap, OnApplicationShutdown {
  private retentionTimer?: NodeJS.Timeout;

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly audit: AuditService,
    private readonly db: Database,
    @Inject(APP_CONFIG) private readonly app: AppConfig,
    @Inject(AUDIT_CONFIG) private readonly config: AuditConfig,
  ) {}

  /** The OAuth endpoints answer only once their security events are durable. */
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(authAuditMiddleware(this.audit)).forRoutes({ path: 'auth/*splat', method: RequestMethod.ALL });
  }

  onApplicationBootstrap(): void {
    this.moduleRef.get(CapabilityService, { strict: false }).addContributor({ contribute: (cs) => describeAuditEvent(cs) });
    // GET entries of a batch or transaction on AuditEvent are answered from the trail, as over REST
    this.optional(EntryReader)?.serveOwnType('AuditEvent', (e) => auditEntryReader(this.moduleRef.get(AuditEventService), e));
    // security events of the auth module (login, token issued, refresh, revocation, registration…)
    const authEvents = this.optional(AuthEvents);
    authEvents?.subscribe((e) => recordAuthEvent(this.audit, e));
    if (this.config.enabled && this.config.retentionDays) {
      const days = this.config.retentionDays;
      const retention = new AuditRetention(this.db, this.app.fhirBaseUrl, this.config.exportDir, (e) => this.audit.recordSecurityEvent(e));
      const run = () =>
        retention
          .run(new Date(Date.now() - days * 86_400_000))
          .catch((err) => logger.error({ err: err?.message }, 'audit retention failed'));
      this.retentionTimer = setInterval(run, this.config.retentionIntervalMs);
      this.retentionTimer.unref();
      setTimeout(run, 60_000).unref();
    }
  }

  private optional<T>(token: new (...args: any[]) => T): T | undefined {
    try {
      return this.moduleRef.get(token, { strict: false });
    } catch {
      return undefined;
    }
  }

  onApplicationShutdown(): void {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
  }
}

/** AuditEvent in the CapabilityStatement: read and search only, over the audit trail's parameters. */
function describeAuditEvent(cs: CapabilityStatement): void {
  const entry = cs.rest?.[0]?.resource?.find((r) => r.type === 'AuditEvent');
  if (!entry) return;
  entry.interaction = [{ code: 'read' }, { code: 'vread' }, { code: 'search-type' }];
  entry.documentation =
    'The audit trail (IHE BALP): every access is recorded by the server; read-only. ' +
    'Requires an admin token (the admin role with user/*.cruds granted) or system/AuditEvent.rs; patient/AuditEvent.rs shows the events about the patient in context.';
  entry.updateCreate = false;
  entry.readHistory = false;
  delete entry.conditionalRead;
  entry.searchParam = AUDIT_SEARCH_PARAMS.map((p) => ({ name: p.name, type: p.type as any, documentation: p.documentation }));
}

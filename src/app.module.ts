import { DynamicModule, Module, OnApplicationShutdown } from '@nestjs/common';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { AppConfig } from './config/config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { flushLogs } from './logger';
import { DefinitionsModule } from './fhir/definitions/definitions.module';
import { ClinicalOperationsModule } from './fhir/operations/clinical-operations.module';
import { TerminologyModule } from './fhir/terminology/terminology.module';
import { SubscriptionsModule } from './fhir/subscriptions/subscriptions.module';
import { RestModule } from './fhir/rest/rest.module';
import { SearchApiModule } from './fhir/search/search-api.module';
import { ValidateOperationModule } from './fhir/validation/validate-operation.module';
import { HealthController } from './health.controller';
import { JobsModule } from './jobs/jobs.module';

@Module({})
export class AppModule implements OnApplicationShutdown {
  /** Last of the shutdown hooks' work: the buffered log lines (SIGTERM ends the process without 'exit'). */
  onApplicationShutdown(): void {
    flushLogs();
  }

  /**
   * Import order is route order: AuditModule first (its /fhir/AuditEvent routes precede the generic
   * /fhir/:type ones), then RestModule before AuthModule, so a FHIR request walks past fewer router layers.
   */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule, DefinitionsModule, AuditModule, RestModule, AuthModule, ValidateOperationModule, JobsModule, ClinicalOperationsModule, SubscriptionsModule, SearchApiModule, TerminologyModule],
      controllers: [HealthController],
    };
  }
}

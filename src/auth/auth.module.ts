import { Inject, MiddlewareConsumer, Module, NestModule, OnModuleDestroy, OnModuleInit, RequestMethod } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import * as express from 'express';
import { APP_CONFIG, AppConfig } from '../config/config';
import { logger } from '../logger';
import { BundleModule } from '../fhir/bundle/bundle.module';
import { EntryAccessHook } from '../fhir/bundle/entry-access';
import { CapabilityService } from '../fhir/rest/capability.service';
import { RestModule } from '../fhir/rest/rest.module';
import { SearchModule } from '../fhir/search/search.module';
import { SearchService } from '../fhir/search/search.service';
import { StorageModule } from '../fhir/storage/storage.module';
import { AdminController } from './admin.controller';
import { AuthEvents } from './auth-events';
import { AuthorizeFlow } from './authorize.service';
import { ScopedEntryAccess } from './bundle-access';
import { ClientAuthenticator } from './client-auth.service';
import { CredentialLockout } from './credential-lockout';
import { ClientRepository } from './client.repository';
import { securityContributor } from './discovery';
import { FhirAuthGuard } from './fhir-auth.guard';
import { GrantRepository } from './grant.repository';
import { Introspection } from './introspection.service';
import { OAuthController } from './oauth.controller';
import { PatientDirectory } from './patient-directory';
import { RateLimiter } from './rate-limiter';
import { RequestAuthorizer } from './request-authorizer';
import { Revocations } from './revocations.service';
import { SecurityRepository } from './security.repository';
import { SeedService } from './seed.service';
import { SigningKeys } from './signing-keys.service';
import { TokenEndpoint } from './token-endpoint.service';
import { Tokens } from './tokens.service';
import { WellKnownController, wellKnownUnderFhir } from './well-known';

const PURGE_INTERVAL_MS = 10 * 60_000;

/**
 * SMART on FHIR: the authorization server (discovery, authorize, token,
 * introspect, revoke, JWKS, registration, EHR launch) and the resource
 * server's global guard and scope policy.
 */
@Module({
  imports: [RestModule, SearchModule, StorageModule, BundleModule],
  controllers: [OAuthController, AdminController, WellKnownController],
  providers: [
    AuthEvents,
    ClientRepository,
    GrantRepository,
    SecurityRepository,
    SigningKeys,
    Revocations,
    Tokens,
    ClientAuthenticator,
    CredentialLockout,
    TokenEndpoint,
    Introspection,
    PatientDirectory,
    AuthorizeFlow,
    SeedService,
    RequestAuthorizer,
    RateLimiter,
    FhirAuthGuard,
    { provide: APP_GUARD, useExisting: FhirAuthGuard },
  ],
  exports: [AuthEvents, Tokens, RequestAuthorizer],
})
export class AuthModule implements NestModule, OnModuleInit, OnModuleDestroy {
  private purge?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly capability: CapabilityService,
    private readonly grants: GrantRepository,
    private readonly security: SecurityRepository,
    private readonly revocations: Revocations,
    private readonly search: SearchService,
    private readonly authorizer: RequestAuthorizer,
    private readonly entryAccess: EntryAccessHook,
    private readonly events: AuthEvents,
    private readonly limiter: RateLimiter,
  ) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(wellKnownUnderFhir(this.config))
      .forRoutes({ path: 'fhir/.well-known/*splat', method: RequestMethod.GET });
    const limit = '64kb';
    // one router layer for every /auth route (per-controller forRoutes adds two layers per route, which
    // every /fhir request would then walk past)
    consumer
      .apply(express.urlencoded({ extended: false, limit }), express.json({ limit }))
      .forRoutes({ path: 'auth/*splat', method: RequestMethod.ALL });
  }

  onModuleInit(): void {
    this.capability.addContributor(securityContributor(this.config));
    // every search of a request (matches, _include, chains, _has) is bounded by the token's scopes
    this.search.setRestrictionProvider((ctx) => this.authorizer.restriction(ctx.auth));
    // batch/transaction entries and conditional interactions: each entry, condition search and content written
    this.entryAccess.register((ctx) =>
      ctx.auth && !ctx.auth.admin ? new ScopedEntryAccess(this.authorizer, this.events, ctx.auth, ctx) : undefined,
    );
    if (!this.config.authRequired) {
      logger.warn(
        '!!! AUTH_REQUIRED=false: FHIR requests without a bearer token are served UNRESTRICTED. Development and tests only: never in production !!!',
      );
    }
    this.purge = setInterval(() => {
      this.revocations.prune();
      Promise.all([this.grants.purgeExpired(), this.security.purgeExpired(), this.limiter.purge()]).catch((err) =>
        logger.warn({ err: err?.message }, 'auth clean-up failed'),
      );
    }, PURGE_INTERVAL_MS);
    this.purge.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.purge);
  }
}

import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import * as fs from 'fs';
import { APP_CONFIG, AppConfig, ConfigError } from '../config/config';
import { logger } from '../logger';
import { ClientMetadata, clientFromMetadata } from './client-metadata';
import { ClientRepository } from './client.repository';
import { OAuthError } from './oauth-error';
import { hashSecret, verifySecret } from './secrets';

interface SeedUser {
  username?: unknown;
  password?: unknown;
  fhirUser?: unknown;
  roles?: unknown;
}

/**
 * Upserts the OAuth clients and users of SEED_FILE at start-up
 * (docs/interface.md "Seed file"). Idempotent: a stored hash that still
 * matches the file's secret is kept, and unchanged rows are not written.
 */
@Injectable()
export class SeedService implements OnModuleInit {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clients: ClientRepository,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.seedFile) await this.seed(this.config.seedFile);
  }

  async seed(file: string): Promise<{ clients: number; users: number }> {
    let data: { clients?: ClientMetadata[]; users?: SeedUser[] };
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err: any) {
      throw new ConfigError(`SEED_FILE ${file} cannot be read as JSON: ${err.code ?? err.message}`);
    }
    let changedClients = 0;
    let changedUsers = 0;
    for (const [i, m] of (data.clients ?? []).entries()) {
      if (await this.seedClient(m, `clients[${i}]`)) changedClients++;
    }
    for (const [i, u] of (data.users ?? []).entries()) {
      if (await this.seedUser(u, `users[${i}]`)) changedUsers++;
    }
    logger.info({ clients: changedClients, users: changedUsers }, 'SEED_FILE applied');
    return { clients: changedClients, users: changedUsers };
  }

  private async seedClient(m: ClientMetadata, where: string): Promise<boolean> {
    let client;
    try {
      client = clientFromMetadata(m, { authMethod: m?.client_secret ? 'client_secret_basic' : 'none' });
    } catch (err) {
      if (err instanceof OAuthError) throw new ConfigError(`SEED_FILE ${where}: ${err.description}`);
      throw err;
    }
    const usesSecret = client.authMethod === 'client_secret_basic' || client.authMethod === 'client_secret_post';
    if (usesSecret && typeof m.client_secret !== 'string') {
      throw new ConfigError(`SEED_FILE ${where}: client_secret is required for ${client.authMethod}`);
    }
    const existing = await this.clients.client(client.clientId);
    let secretHash: string | undefined;
    if (usesSecret) {
      const keep = existing?.secretHash && (await verifySecret(m.client_secret!, existing.secretHash));
      secretHash = keep ? existing!.secretHash : await hashSecret(m.client_secret!);
    }
    return this.clients.upsertClient({ ...client, secretHash, source: 'seed' });
  }

  private async seedUser(u: SeedUser, where: string): Promise<boolean> {
    if (typeof u?.username !== 'string' || !u.username) throw new ConfigError(`SEED_FILE ${where}: username is required`);
    if (typeof u.password !== 'string' || !u.password) throw new ConfigError(`SEED_FILE ${where}: password is required`);
    if (u.fhirUser !== undefined && (typeof u.fhirUser !== 'string' || !/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(u.fhirUser))) {
      throw new ConfigError(`SEED_FILE ${where}: fhirUser must be a reference like Practitioner/123`);
    }
    const roles = u.roles ?? [];
    if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string')) {
      throw new ConfigError(`SEED_FILE ${where}: roles must be a list of strings`);
    }
    const existing = await this.clients.user(u.username);
    const keep = existing && (await verifySecret(u.password, existing.passwordHash));
    return this.clients.upsertUser({
      username: u.username,
      passwordHash: keep ? existing!.passwordHash : await hashSecret(u.password),
      fhirUser: u.fhirUser as string | undefined,
      roles: roles as string[],
    });
  }
}

import { Controller, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { randomUUID } from 'crypto';
import { isUnstorableText } from '../database/sql-errors';
import { logger } from '../logger';
import type { AuthContext } from './auth-context';
import { AuthEvents } from './auth-events';
import { ClientMetadata, clientFromMetadata, clientMetadataOf } from './client-metadata';
import { ClientRepository } from './client.repository';
import { GrantRepository } from './grant.repository';
import { OAuthError } from './oauth-error';
import { PatientDirectory } from './patient-directory';
import { RequestAuthorizer } from './request-authorizer';
import { hashSecret, randomToken, sha256 } from './secrets';
import { SigningKeys } from './signing-keys.service';
import { Tokens } from './tokens.service';

const LAUNCH_TTL_SECONDS = 600;

/**
 * Endpoints that need a bearer token of their own: dynamic client
 * registration (RFC 7591, admins only), signing key rotation (admins) and
 * EHR launch contexts (created by the EHR for the app it is about to launch).
 */
@Controller('auth')
export class AdminController {
  constructor(
    private readonly tokens: Tokens,
    private readonly clients: ClientRepository,
    private readonly grants: GrantRepository,
    private readonly patients: PatientDirectory,
    private readonly authorizer: RequestAuthorizer,
    private readonly events: AuthEvents,
    private readonly keys: SigningKeys,
  ) {}

  /**
   * RFC 7591 §3: the initial access token is an admin token (`AuthContext.admin`: role and scope).
   * Audited (BALP) with the registering party as agent, whether registered or refused; the client
   * registered is the event's entity. A refusal before a token is verified (401) is recorded by the
   * /auth audit middleware from its status.
   */
  @Post('register')
  register(@Req() req: Request, @Res() res: Response) {
    const refused = (auth: AuthContext, status: number, body: OAuthErrorBody) =>
      this.events.emit({
        type: 'client-registration',
        outcome: 'failure',
        reason: `${status}: ${body.error}${body.error_description ? `: ${body.error_description}` : ''}`,
        ...registeringParty(auth),
      });
    return this.run(req, res, refused, async (auth) => {
      if (!auth.admin) throw new OAuthError('insufficient_scope', 'client registration needs an admin token (admin role and user/*.cruds granted)', 403);
      const m = (req.body ?? {}) as ClientMetadata;
      const client = clientFromMetadata({ ...m, client_id: randomUUID() }, { authMethod: 'client_secret_basic' });
      const usesSecret = client.authMethod === 'client_secret_basic' || client.authMethod === 'client_secret_post';
      const secret = usesSecret ? randomToken() : undefined;
      const stored = { ...client, secretHash: secret ? await hashSecret(secret) : undefined, source: 'registration' as const, createdBy: auth.username ?? auth.clientId };
      await this.clients.upsertClient(stored);
      this.events.emit({ type: 'client-registration', outcome: 'success', ...registeringParty(auth), registeredClientId: client.clientId });
      const body: Record<string, unknown> = { ...clientMetadataOf(stored), client_id_issued_at: Math.floor(Date.now() / 1000) };
      if (secret) Object.assign(body, { client_secret: secret, client_secret_expires_at: 0 });
      return { status: 201, body };
    });
  }

  /**
   * EHR launch: `{patient, encounter?, fhirContext?}` → an opaque `launch`
   * value for the app's launch URL. The caller must be able to read every
   * patient (admin, practitioner user, or a system/Patient read scope).
   */
  @Post('launch')
  launch(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, undefined, async (auth) => {
      const c = auth.admin ? [] : this.authorizer.criteria(auth, 'Patient', 'r');
      if (c.length) throw new OAuthError('insufficient_scope', 'creating a launch needs read access to all patients', 403);
      const { patient, encounter, fhirContext } = (req.body ?? {}) as Record<string, unknown>;
      if (typeof patient !== 'string' || !(await this.patients.label(patient))) {
        throw new OAuthError('invalid_request', 'patient must be the id of an existing Patient');
      }
      if (encounter !== undefined && typeof encounter !== 'string') throw new OAuthError('invalid_request', 'encounter must be an id');
      // the launch context must be coherent: the app will be told this encounter is the patient's
      if (encounter !== undefined && !(await this.patients.encounterOf(patient, encounter))) {
        throw new OAuthError('invalid_request', 'encounter must be the id of an existing Encounter of that patient');
      }
      if (fhirContext !== undefined && !Array.isArray(fhirContext)) throw new OAuthError('invalid_request', 'fhirContext must be an array');
      const launch = randomToken();
      await this.grants.createLaunch(
        sha256(launch),
        { patient, encounter: encounter as string | undefined, fhirContext: fhirContext as unknown[] | undefined },
        auth.username ?? auth.clientId,
        new Date(Date.now() + LAUNCH_TTL_SECONDS * 1000),
      );
      this.events.emit({ type: 'launch-created', outcome: 'success', clientId: auth.clientId, username: auth.username, patient });
      return { status: 201, body: { launch, expires_in: LAUNCH_TTL_SECONDS } };
    });
  }

  /** Signing key rotation: a new key signs from now on; the old ones verify until their tokens expire. */
  @Post('keys/rotate')
  rotateKey(@Req() req: Request, @Res() res: Response) {
    return this.run(req, res, undefined, async (auth) => {
      if (!auth.admin) throw new OAuthError('insufficient_scope', 'key rotation needs an admin token (admin role and user/*.cruds granted)', 403);
      const kid = await this.keys.rotate();
      return { status: 200, body: { kid } };
    });
  }

  /**
   * Authenticates the bearer token, then `work`; an error becomes its OAuth error response, and
   * `refused` (if any) hears of it when the token was valid (who was refused).
   */
  private async run(
    req: Request,
    res: Response,
    refused: ((auth: AuthContext, status: number, body: OAuthErrorBody) => void) | undefined,
    work: (auth: AuthContext) => Promise<{ status: number; body: object }>,
  ) {
    res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    let auth: AuthContext | undefined;
    try {
      const header = req.headers.authorization ?? '';
      const m = /^Bearer +(\S+)$/i.exec(header.trim());
      if (!m) throw new OAuthError('invalid_token', 'a bearer access token is required', 401);
      auth = await this.tokens.authenticate(m[1]);
      const r = await work(auth);
      res.status(r.status).json(r.body);
    } catch (err: any) {
      const { status, body } = errorResponse(req, err);
      if (err instanceof OAuthError && (status === 401 || status === 403)) res.setHeader('WWW-Authenticate', `Bearer error="${err.error}"`);
      if (auth && refused) refused(auth, status, body);
      res.status(status).json(body);
    }
  }
}

interface OAuthErrorBody {
  error: string;
  error_description?: string;
}

/** The agent of an event done with this token (BALP: who performed it): its client, user and token id. */
function registeringParty(auth: AuthContext) {
  return { clientId: auth.clientId, username: auth.username, fhirUser: auth.fhirUser, tokenId: auth.tokenId };
}

/** The OAuth error response for an admin endpoint's failure. */
function errorResponse(req: Request, err: any): { status: number; body: OAuthErrorBody } {
  if (err instanceof OAuthError) return { status: err.status, body: err.body() };
  if (isUnstorableText(err)) {
    return { status: 400, body: { error: 'invalid_request', error_description: 'a value holds a character that cannot be stored (such as U+0000)' } };
  }
  if (err?.status === 403) return { status: 403, body: { error: 'insufficient_scope', error_description: err.message } };
  logger.error({ reqId: (req as any).id, err: err?.message }, 'auth admin endpoint failed');
  return { status: 500, body: { error: 'server_error', error_description: 'internal error' } };
}

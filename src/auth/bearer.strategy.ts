import type { Request } from 'express';
import { Strategy } from 'passport';
import type { AuthContext } from './auth-context';
import { OAuthError } from './oauth-error';

/** What a failed bearer authentication tells the client (RFC 6750 §3). */
export interface BearerChallenge {
  /** absent when the request carried no token at all */
  error?: string;
  description?: string;
}

/**
 * Passport strategy for the FHIR API: the `Authorization: Bearer` access
 * token, verified with jose against the server's own keys (Tokens), becomes
 * the request's AuthContext.
 */
export class BearerStrategy extends Strategy {
  override name = 'smart-bearer';

  constructor(private readonly verify: (token: string) => Promise<AuthContext>) {
    super();
  }

  override authenticate(req: Request): void {
    const header = req.headers.authorization;
    if (!header) return this.fail({} as BearerChallenge, 401);
    const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
    if (!m) return this.fail({ error: 'invalid_request', description: 'the Authorization header must be "Bearer <token>"' }, 401);
    this.verify(m[1]).then(
      (auth) => this.success(auth),
      (err) => {
        if (err instanceof OAuthError) this.fail({ error: err.error, description: err.description } as BearerChallenge, 401);
        else this.error(err);
      },
    );
  }
}

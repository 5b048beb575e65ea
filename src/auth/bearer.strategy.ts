import type { Request } from 'express';
import { Strategy } from 'passport';
import type { AuthContext } from './auth-context';
import { OAuthError } from './oauth-error';

/** What a failed bearer authentication tells the client (RFC 6750 §3). */
export interface BearerChallenge {
  /** absent when the request carried no token at all */
  error?: string;
  description?: string;
  /** 400 for a malformed request (RFC 6750 §3.1 invalid_request), else 401 */
  status?: 400 | 401;
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
    // no Bearer credentials (none, or another scheme): a challenge without an error code (RFC 6750 §3.1)
    if (!header || !/^Bearer(\s|$)/i.test(header.trim())) return this.fail({} as BearerChallenge, 401);
    const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
    if (!m) {
      const challenge: BearerChallenge = { error: 'invalid_request', description: 'the Authorization header must be "Bearer <token>"', status: 400 };
      return this.fail(challenge, 400);
    }
    this.verify(m[1]).then(
      (auth) => this.success(auth),
      (err) => {
        if (err instanceof OAuthError) this.fail({ error: err.error, description: err.description } as BearerChallenge, 401);
        else this.error(err);
      },
    );
  }
}

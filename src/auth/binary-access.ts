import { FhirDefinitions } from '../fhir/definitions/definitions.module';
import { FhirError, notFound } from '../fhir/errors';
import { StorageService } from '../fhir/storage/storage.service';
import type { AuthContext } from './auth-context';
import { CompartmentChecker } from './compartment';
import type { FhirRequest } from './request-authorizer';
import { criteriaFor } from './scope-policy';
import { INTERACTION_WORDS, Interaction } from './scopes';

/** What RequestAuthorizer lends: its scope check (403) and its one-query visibility check (404). */
export interface InstanceChecks {
  criteria(auth: AuthContext, type: string, interaction: Interaction): [string, string][][];
  visible(type: string, id: string, criteria: [string, string][][]): Promise<void>;
}

const forbidden = (msg: string) => FhirError.of(403, 'forbidden', msg);

/**
 * Binary (binary.html, security.html#binary): a Binary with a
 * securityContext is reached like the resource it names (the interaction
 * on that type, and that resource visible to the token); without one, only
 * through Binary scopes, which never reach it when bounded to a patient.
 */
export class BinaryAccess {
  constructor(
    private readonly storage: StorageService,
    private readonly definitions: FhirDefinitions,
    private readonly compartments: CompartmentChecker,
    private readonly checks: InstanceChecks,
  ) {}

  /** A request on `Binary` or `Binary/{id}[/…]` (`seg` its path segments). */
  async request(auth: AuthContext, method: string, seg: string[], r: FhirRequest): Promise<void> {
    const interaction: Interaction =
      method === 'GET' ? (seg.length === 1 ? 's' : 'r') : method === 'POST' ? 'c' : method === 'DELETE' ? 'd' : 'u';
    const own = criteriaFor(auth, 'Binary', [interaction], this.compartments);
    if (own !== false && own.length === 0) return; // unbounded Binary scope
    if (seg.length === 1 && method !== 'POST') return void this.checks.criteria(auth, 'Binary', interaction);
    let context: string | undefined;
    if (method === 'POST' || method === 'PUT') {
      context = r.securityContext ?? (r.body as { securityContext?: { reference?: string } })?.securityContext?.reference;
    }
    if (seg.length >= 2 && method !== 'POST') {
      // a Binary the token cannot reach answers exactly like a missing one: 404 naming only the Binary
      // (not its securityContext, not whether it exists; FHIR security.html)
      const hidden = notFound(`Binary/${seg[1]} is not known`);
      const stored = await this.storage.readCurrent('Binary', seg[1]);
      if (!stored?.content) {
        if (method === 'PUT' && context) return this.target(auth, context, interaction);
        if (method === 'PUT' && own === false) throw forbidden(`the token's scopes do not allow update on Binary without a securityContext`);
        if (own === false) throw hidden;
        return; // unknown: the interaction answers 404
      }
      const target = (JSON.parse(stored.content) as { securityContext?: { reference?: string } }).securityContext?.reference;
      if (!target) throw hidden;
      try {
        await this.target(auth, target, interaction);
      } catch (err) {
        throw err instanceof FhirError && (err.status === 403 || err.status === 404) ? hidden : err;
      }
      // an update may not move the Binary under a resource the token cannot reach
      if (context && context !== target) await this.target(auth, context, interaction);
      return;
    }
    if (!context) throw forbidden(`the token's scopes do not allow ${INTERACTION_WORDS[interaction]} on Binary without a securityContext`);
    await this.target(auth, context, interaction);
  }

  /** The resource a securityContext names, reached with `interaction` (403 by scope, 404 when not visible). */
  async target(auth: AuthContext, reference: string, interaction: Interaction): Promise<void> {
    const m = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(reference);
    if (!m || !this.definitions.isResourceType(m[1])) throw forbidden('Binary.securityContext must reference a resource');
    const c = this.checks.criteria(auth, m[1], interaction);
    if (c.length) await this.checks.visible(m[1], m[2], c);
  }
}

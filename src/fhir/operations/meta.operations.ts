import { Inject, Injectable } from '@nestjs/common';
import type { Meta, OperationDefinition, Resource } from 'fhir/r4';
import { RequestAuthorizer } from '../../auth/request-authorizer';
import { Database } from '../../database/database';
import { BinaryService } from '../binary/binary.service';
import { FhirDefinitions } from '../definitions/definitions.module';
import { FhirError, notFound } from '../errors';
import { READ_ONLY_TYPES } from '../rest/allowed-methods';
import type { FhirResponse } from '../rest/fhir-response';
import { InteractionsService } from '../rest/interactions.service';
import { StorageService } from '../storage/storage.service';
import type { StoredVersion } from '../storage/storage.types';
import { addMeta, metaParameter, metaParameters, metaSummary, MetaSet, removeMeta, sameSets } from './meta-values';
import type { FhirOperation, OperationCall } from './operation-registry';

/**
 * Types whose instances `$meta-add`/`$meta-delete` do not serve: the audit trail (its own store,
 * immutable: its routes answer 405). Binary is served through BinaryService's write path (its
 * document is linked to each version there); `$meta` reads Binary's meta like any other
 * (binary.html: Binary has meta).
 */
const NOT_SERVED = READ_ONLY_TYPES;

/**
 * Profiles, tags and security labels in use (the system and type level `$meta`): ONE query over the
 * current resources, reading `meta` from each one's stored JSON. It reads every current resource of
 * the types asked for (a sequential scan; no index holds meta with its display texts), so it costs
 * like a full export of those types' JSON: fine for a catalogue of tags, not for a hot path.
 */
const SUMMARY_SQL = `
  SELECT DISTINCT ON (kind, system, code) kind, system, code, version, display FROM (
    SELECT e.key AS kind,
           CASE WHEN e.key = 'profile' THEN v #>> '{}' ELSE v ->> 'system' END AS system,
           v ->> 'code' AS code, v ->> 'version' AS version, v ->> 'display' AS display
      FROM resource r
     CROSS JOIN LATERAL jsonb_each(r.content::jsonb -> 'meta') e
     CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.value) = 'array' THEN e.value ELSE '[]'::jsonb END) v
     WHERE NOT r.deleted AND e.key IN ('profile', 'tag', 'security') AND ($1::text[] IS NULL OR r.resource_type = ANY($1))
  ) m
  ORDER BY kind, system, code, display NULLS LAST`;

const definition = (code: string, name: string, system: boolean, parameter: OperationDefinition['parameter']): OperationDefinition => ({
  resourceType: 'OperationDefinition',
  id: `Resource-${code}`,
  url: `http://hl7.org/fhir/OperationDefinition/Resource-${code}`,
  name,
  status: 'active',
  kind: 'operation',
  code,
  resource: ['Resource'],
  system,
  type: system,
  instance: true,
  parameter,
});

const RETURN = { name: 'return', use: 'out' as const, min: 1, max: '1', type: 'Meta' as const };
const IN_META = { name: 'meta', use: 'in' as const, min: 1, max: '1', type: 'Meta' as const };

/**
 * `$meta` (R4 resource-operation-meta.html): at instance level the meta of the current version
 * (404 unknown, 410 deleted; read permission on the instance, checked like a read), or of the
 * version named (`[type]/[id]/_history/[vid]/$meta`: its versionId, lastUpdated, profiles, tags and
 * security labels; 404 unknown, 410 a deletion, checked like a vread); at type and
 * system level the profiles, tags and security labels in use, without versionId or lastUpdated.
 * Those summaries cannot be bounded by a patient compartment or a filter in the one query that
 * makes them: a type needs scopes on it that are not so bounded (403 otherwise), and the system
 * level summarizes only the types the token may search unbounded.
 */
@Injectable()
export class MetaOperation implements FhirOperation {
  readonly name = 'meta';
  readonly levels: FhirOperation['levels'] = ['system', 'type', 'instance'];
  readonly resourceTypes: string[];
  readonly affectsState = false;
  readonly versions = true;
  readonly definition = definition('meta', 'Meta', true, [RETURN]);

  constructor(
    private readonly db: Database,
    private readonly storage: StorageService,
    private readonly definitions: FhirDefinitions,
    @Inject(RequestAuthorizer) private readonly authorizer: RequestAuthorizer,
  ) {
    this.resourceTypes = definitions.resourceTypes.filter((t) => !READ_ONLY_TYPES.has(t));
  }

  async invoke(call: OperationCall): Promise<FhirResponse> {
    if (call.level === 'instance') {
      const v = call.versionId === undefined ? await this.storage.read(call.resourceType!, call.id!) : await this.version(call);
      return { status: 200, body: metaParameters((JSON.parse(v.content!) as Resource).meta ?? {}) };
    }
    const types = this.summarized(call);
    const rows = await this.db.query(SUMMARY_SQL, [types]);
    return { status: 200, body: metaParameters(metaSummary(rows.rows as { kind: MetaSet; system: string | null; code: string | null; display: string | null; version: string | null }[])) };
  }

  /** The version named, as vread finds it: 404 unknown (or not a version number), 410 a deletion. */
  private version(call: OperationCall): Promise<StoredVersion> {
    const { resourceType: type, id, versionId: vid } = call as Required<OperationCall>;
    if (!/^[0-9]+$/.test(vid)) throw notFound(`version "${vid}" is not known`);
    return this.storage.vread(type, id, Number(vid));
  }

  /** The types to summarize (null: every type) as the token allows. */
  private summarized(call: OperationCall): string[] | null {
    const restriction = this.authorizer.restriction(call.ctx.auth);
    const unbounded = (t: string) => {
      const c = restriction ? restriction.criteriaFor(t) : [];
      return c !== false && c.length === 0;
    };
    if (call.level === 'type') {
      if (!unbounded(call.resourceType!)) {
        throw FhirError.of(403, 'forbidden', `$meta on ${call.resourceType} needs scopes that are not limited to a patient or a filter (the summary covers every ${call.resourceType})`);
      }
      return [call.resourceType!];
    }
    return restriction ? this.resourceTypes.filter(unbounded) : null;
  }
}

/** What $meta-add and $meta-delete share: read, change the sets, write a new version when they changed. */
@Injectable() // subclasses inherit this constructor's dependencies (Nest reads them up the prototype chain)
abstract class MetaChange implements FhirOperation {
  abstract readonly name: string;
  readonly levels: FhirOperation['levels'] = ['instance'];
  readonly resourceTypes: string[];
  readonly affectsState = true;
  abstract readonly definition: OperationDefinition;

  constructor(
    private readonly interactions: InteractionsService,
    private readonly storage: StorageService,
    definitions: FhirDefinitions,
    @Inject(RequestAuthorizer) private readonly authorizer: RequestAuthorizer,
    private readonly binaries: BinaryService,
  ) {
    this.resourceTypes = definitions.resourceTypes.filter((t) => !NOT_SERVED.has(t));
  }

  /** The write of a new version from the current one: Binary through BinaryService, which keeps its document. */
  private modify(call: OperationCall, type: string, id: string, change: (current: Resource) => Resource) {
    if (type !== 'Binary') return this.interactions.modify(call.ctx, type, id, change);
    return this.binaries.modify(call.ctx, id, change);
  }

  protected abstract change(meta: Meta, given: Meta): Meta;

  /**
   * R4 leaves open whether these operations make a new version (STU3 said they did not; R4 dropped
   * that). Here a change is a new version written like a patch (history, search index, change feed
   * and subscriptions, the AuditEvent in its statement); no change writes nothing.
   */
  async invoke(call: OperationCall): Promise<FhirResponse> {
    const given = metaParameter(call.body, this.name);
    const { resourceType: type, id } = { resourceType: call.resourceType!, id: call.id! };
    const current = JSON.parse((await this.storage.read(type, id)).content!) as Resource;
    if (sameSets(this.change(current.meta ?? {}, given), current.meta ?? {})) return { status: 200, body: metaParameters(current.meta ?? {}) };
    const result = await this.modify(call, type, id, (latest) => {
      const next = { ...latest, meta: this.change(latest.meta ?? {}, given) } as Resource;
      // the result must stay within the token's compartment and filters (security labels and tags may be filtered on);
      // a Binary is reached through its securityContext, which this cannot change (checked before, like its update)
      const auth = call.ctx.auth;
      if (auth && !auth.admin && type !== 'Binary' && !this.authorizer.contentAllowed(auth, next, 'u')) {
        throw FhirError.of(403, 'forbidden', `the token's scopes do not allow this change to ${type}/${id}`);
      }
      return next;
    });
    return { status: 200, body: metaParameters((JSON.parse(result.stored.content!) as Resource).meta ?? {}) };
  }
}

/** `$meta-add` (R4 resource-operation-meta-add.html): adds profiles, tags and security labels (sets: no duplicates). */
@Injectable()
export class MetaAddOperation extends MetaChange {
  readonly name = 'meta-add';
  readonly definition = definition('meta-add', 'MetaAdd', false, [IN_META, RETURN]);

  protected change(meta: Meta, given: Meta): Meta {
    return addMeta(meta, given);
  }
}

/** `$meta-delete` (R4 resource-operation-meta-delete.html): removes them (absent ones are not an error). */
@Injectable()
export class MetaDeleteOperation extends MetaChange {
  readonly name = 'meta-delete';
  readonly definition = definition('meta-delete', 'MetaDelete', false, [IN_META, RETURN]);

  protected change(meta: Meta, given: Meta): Meta {
    return removeMeta(meta, given);
  }
}

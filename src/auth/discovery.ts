import type { CapabilityStatement } from 'fhir/r4';
import type { AppConfig } from '../config/config';
import type { CapabilityContributor } from '../fhir/rest/capability.service';
import { ASSERTION_ALGS, tokenEndpoint } from './client-auth.service';
import { SIGNING_ALG } from './signing-keys.service';

/** Every OAuth endpoint of the server (absolute URLs). */
export function oauthEndpoints(config: AppConfig) {
  const auth = `${config.publicUrl}/auth`;
  return {
    issuer: config.publicUrl,
    jwks_uri: `${auth}/jwks`,
    authorization_endpoint: `${auth}/authorize`,
    token_endpoint: tokenEndpoint(config),
    introspection_endpoint: `${auth}/introspect`,
    revocation_endpoint: `${auth}/revoke`,
    registration_endpoint: `${auth}/register`,
    launch_endpoint: `${auth}/launch`,
  };
}

export const SCOPES_SUPPORTED = [
  'openid',
  'fhirUser',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
  'patient/*.cruds',
  'user/*.cruds',
  'system/*.cruds',
  'patient/*.rs',
  'user/*.rs',
  'system/*.rs',
  'patient/*.read',
  'patient/*.write',
  'user/*.read',
  'user/*.write',
  'system/*.read',
  'system/*.write',
];

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'];
const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

/** `GET /fhir/.well-known/smart-configuration` (SMART App Launch 2.0 §"Conformance"). */
export function smartConfiguration(config: AppConfig) {
  const e = oauthEndpoints(config);
  return {
    issuer: e.issuer,
    jwks_uri: e.jwks_uri,
    authorization_endpoint: e.authorization_endpoint,
    token_endpoint: e.token_endpoint,
    introspection_endpoint: e.introspection_endpoint,
    revocation_endpoint: e.revocation_endpoint,
    registration_endpoint: e.registration_endpoint,
    grant_types_supported: GRANT_TYPES,
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    scopes_supported: SCOPES_SUPPORTED,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    capabilities: [
      'launch-ehr',
      'launch-standalone',
      'authorize-post',
      'client-public',
      'client-confidential-symmetric',
      'client-confidential-asymmetric',
      'context-ehr-patient',
      'context-ehr-encounter',
      'context-standalone-patient',
      'permission-offline',
      'permission-online',
      'permission-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
      'sso-openid-connect',
    ],
  };
}

/** `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3). */
export function openidConfiguration(config: AppConfig) {
  const e = oauthEndpoints(config);
  return {
    issuer: e.issuer,
    authorization_endpoint: e.authorization_endpoint,
    token_endpoint: e.token_endpoint,
    jwks_uri: e.jwks_uri,
    registration_endpoint: e.registration_endpoint,
    introspection_endpoint: e.introspection_endpoint,
    revocation_endpoint: e.revocation_endpoint,
    scopes_supported: SCOPES_SUPPORTED,
    response_types_supported: ['code'],
    grant_types_supported: GRANT_TYPES,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [SIGNING_ALG],
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    // RFC 8414 §2: introspection needs a confidential client (or a bearer token, README "Introspection"); revocation takes public clients too
    introspection_endpoint_auth_methods_supported: AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: [...AUTH_METHODS, 'none'],
    code_challenge_methods_supported: ['S256'],
    // OIDC Discovery §3: request_uri_parameter_supported defaults to true, so say no
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nonce', 'fhirUser'],
  };
}

/** CapabilityStatement.rest.security: SMART-on-FHIR service and the oauth-uris extension. */
export function securityContributor(config: AppConfig): CapabilityContributor {
  const e = oauthEndpoints(config);
  return {
    contribute(cs: CapabilityStatement) {
      for (const rest of cs.rest ?? []) {
        rest.security = {
          cors: true,
          description: 'SMART App Launch 2.0 (1.0 scopes accepted); every FHIR interaction needs a bearer token',
          service: [
            {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
              text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)',
            },
          ],
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [
                { url: 'authorize', valueUri: e.authorization_endpoint },
                { url: 'token', valueUri: e.token_endpoint },
                { url: 'introspect', valueUri: e.introspection_endpoint },
                { url: 'revoke', valueUri: e.revocation_endpoint },
                { url: 'register', valueUri: e.registration_endpoint },
              ],
            },
          ],
        };
      }
    },
  };
}

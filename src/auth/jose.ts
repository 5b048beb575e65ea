import type * as Jose from 'jose' with { 'resolution-mode': 'import' };

/**
 * `jose` 6 is an ES module; this CommonJS build loads it with require(),
 * which Node.js supports for ES modules since 20.19 (and jest transpiles it).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const jose: typeof Jose = require('jose');

export const {
  SignJWT,
  jwtVerify,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
} = jose;

export type CryptoKey = Jose.CryptoKey;
export type JWK = Jose.JWK;
export type JSONWebKeySet = Jose.JSONWebKeySet;
export type JWTPayload = Jose.JWTPayload;
export type JWTVerifyGetKey = Jose.JWTVerifyGetKey;

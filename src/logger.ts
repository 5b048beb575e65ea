import pino from 'pino';
import { LogLevel } from './config/config';

/**
 * Structured JSON logger. Log references and ids only: never resource
 * content, tokens or passwords (see README "Logging").
 */
export const logger = pino({
  level: (process.env.LOG_LEVEL as LogLevel) || 'info',
  base: { svc: 'fhir-server' },
  redact: {
    paths: ['req.headers.authorization', 'authorization', 'password', 'client_secret', 'token', '*.password', '*.token'],
    censor: '[redacted]',
  },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export type Logger = typeof logger;

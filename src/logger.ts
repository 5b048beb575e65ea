import pino from 'pino';
import { LogLevel } from './config/config';

// buffered, asynchronous writes: an access-log line per request must not cost a syscall each
const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });

/**
 * Structured JSON logger. Log references and ids only: never resource
 * content, tokens or passwords (see README "Logging").
 */
export const logger = pino(
  {
    level: (process.env.LOG_LEVEL as LogLevel) || 'info',
    base: { svc: 'fhir-server' },
    redact: {
      paths: ['req.headers.authorization', 'authorization', 'password', 'client_secret', 'token', '*.password', '*.token'],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  },
  destination,
);

// nothing buffered is lost when the process exits
process.on('exit', () => {
  try {
    destination.flushSync();
  } catch {
    /* not open yet */
  }
});

export type Logger = typeof logger;

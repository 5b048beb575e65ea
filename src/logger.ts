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

/** Writes out what is buffered (synchronously): at shutdown, before a signal ends the process. */
export function flushLogs(): void {
  try {
    destination.flushSync();
  } catch {
    /* not open yet */
  }
}

// a quiet server must not sit on its lines: what is buffered goes out within a second
setInterval(() => {
  try {
    destination.flush();
  } catch {
    /* not open yet, or a write in progress: the next tick takes it */
  }
}, 1000).unref();
// nothing buffered is lost when the process exits; Nest's shutdown hooks end the process by
// re-raising SIGTERM, where 'exit' never fires: AppModule flushes on application shutdown too
process.on('exit', flushLogs);

export type Logger = typeof logger;

import cluster from 'cluster';
import { logger } from './logger';

/**
 * Several server processes on one database (WORKERS > 1, PostgreSQL only).
 *
 * Node runs JavaScript on one core; the request stack (HTTP parsing, routing,
 * auth, audit, JSON) keeps that core busy long before PostgreSQL is. The
 * primary forks `workers` processes that share the listening port (the
 * primary hands out connections round-robin) and restarts one that dies.
 * Nothing a process must know lives only in its memory (revocations, rate
 * limits, jobs, the audit chain are in PostgreSQL), so workers are
 * interchangeable. SIGTERM/SIGINT: each worker drains and closes its pool;
 * the primary exits when all have.
 */
export function runPrimary(workers: number): void {
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'worker exited; starting another');
    setTimeout(fork, 1000).unref();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping workers');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export const isPrimary = (): boolean => cluster.isPrimary;

import * as http from 'http';
import type { AddressInfo } from 'net';
import { CEILING_FACTOR, CEILING_SECONDS } from '../../src/auth/credential-lockout';
import { SmartApp } from './smart-helpers';

/**
 * The app served on a real port, so that requests come from chosen loopback
 * addresses (127.0.0.0/8, `localAddress`): how the lockout tests set the
 * client address the server counts (`req.ip`).
 */
export async function listenOnLoopback(s: SmartApp) {
  const server = s.app.getHttpServer();
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    /** POST `body` to `path` from the loopback address `from`. */
    postFrom(from: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string; location?: string }> {
      return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, localAddress: from, method: 'POST', path, headers }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, text, location: res.headers.location }));
        });
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `CEILING_FACTOR` addresses (127.0.1.x) that together reach the per-subject ceiling with `threshold` failures each. */
export const ceilingAddresses = () => Array.from({ length: CEILING_FACTOR }, (_, i) => `127.0.1.${i + 1}`);

/** The subject-wide counter `key` holds the ceiling's failures and is locked for at most the ceiling's short window. */
export async function expectCeilingReached(s: SmartApp, key: string, threshold: number): Promise<void> {
  const { rows } = await s.db.query(
    `SELECT failures, extract(epoch FROM locked_until - now()) AS left FROM auth_login_attempt WHERE key = $1`,
    [key],
  );
  expect(rows[0].failures).toBe(threshold * CEILING_FACTOR);
  expect(Number(rows[0].left)).toBeLessThanOrEqual(CEILING_SECONDS);
}

/** Ends the ceiling's window of `key` (aged rather than waited for). */
export async function endCeilingWindow(s: SmartApp, key: string): Promise<void> {
  await s.db.query(`UPDATE auth_login_attempt SET locked_until = now() - interval '1 second' WHERE key = $1`, [key]);
}

import type { IncomingMessage } from 'http';
import type { Duplex } from 'stream';
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { CapabilityStatement } from 'fhir/r4';
import { logger } from '../../logger';
import { CapabilityService } from '../rest/capability.service';
import { BASE_URL } from '../rest/rest.tokens';
import { StorageService } from '../storage/storage.service';
import { SubscriptionEvents } from './subscription-events';
import { Refused, SocketAuth, WebSocketAuth } from './websocket-auth';
import { acceptKey, encodeFrame, FrameReader, OPCODE } from './websocket-frames';

export const WEBSOCKET_PATH = '/fhir/websocket';
const KEEPALIVE_MS = 30_000;
/** RFC 6455 §7.4.1 close codes */
const POLICY_VIOLATION = 1008;
const TOO_BIG = 1009;

/** One client socket: its token (if any), its bindings, and its commands run one at a time. */
interface Connection {
  socket: Duplex;
  address?: string;
  auth?: SocketAuth;
  bound: Set<string>;
  queue: Promise<void>;
}

/**
 * The R4 websocket channel (subscription.html#2.46.7.2): a client opens
 * `ws(s)://{host}/fhir/websocket`, sends `bind {subscription id}` (answered
 * `bound {id}`) and then receives `ping {id}` each time that Subscription
 * has a notification; it fetches the data itself with its own token, so the
 * socket never carries resource content. The URL is announced in the
 * CapabilityStatement (capabilitystatement-websocket extension).
 *
 * With AUTH_REQUIRED a bind needs a bearer token (upgrade request or
 * `auth <token>` message, see WebSocketAuth) that may read the Subscription;
 * any refusal is answered `error …` and the socket is closed (1008). The
 * token is re-checked before each ping and on keepalive: once it expires or
 * is revoked the socket is closed (send `auth <new token>` before then to go on).
 */
@Injectable()
export class SubscriptionWebSocketServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly bindings = new Map<string, Set<Connection>>();
  private readonly connections = new Set<Connection>();
  private unsubscribe?: () => void;
  private keepalive?: NodeJS.Timeout;
  private server?: { off(event: string, l: (...a: any[]) => void): void };

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly events: SubscriptionEvents,
    private readonly storage: StorageService,
    private readonly capability: CapabilityService,
    private readonly access: WebSocketAuth,
    @Inject(BASE_URL) private readonly baseUrl: string,
  ) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer();
    if (!server) return;
    server.on('upgrade', this.onUpgrade);
    this.server = server;
    this.unsubscribe = this.events.on((id) => this.ping(id));
    this.keepalive = setInterval(() => {
      for (const c of this.connections) {
        if (c.auth?.auth.expiresAt !== undefined && c.auth.auth.expiresAt <= Date.now()) this.refuse(c, 'error: the access token has expired');
        else c.socket.write(encodeFrame(OPCODE.ping, ''));
      }
    }, KEEPALIVE_MS);
    this.keepalive.unref();
    const url = this.baseUrl.replace(/^http/, 'ws') + WEBSOCKET_PATH.slice('/fhir'.length);
    this.capability.addContributor({
      contribute: (cs: CapabilityStatement) => {
        const rest = cs.rest?.[0];
        if (!rest) return;
        rest.extension = [
          ...(rest.extension ?? []),
          { url: 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket', valueUri: url },
        ];
      },
    });
  }

  onModuleDestroy(): void {
    this.server?.off('upgrade', this.onUpgrade);
    this.unsubscribe?.();
    if (this.keepalive) clearInterval(this.keepalive);
    for (const c of this.connections) c.socket.destroy();
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex): void => {
    if ((req.url ?? '').split('?')[0] !== WEBSOCKET_PATH) return; // not ours: another upgrade handler may take it
    const key = req.headers['sec-websocket-key'];
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string' || req.headers['sec-websocket-version'] !== '13') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    socket.on('error', () => socket.destroy());
    const address = req.socket.remoteAddress;
    this.access.fromUpgrade(req, address).then(
      (auth) => {
        if (socket.destroyed) return;
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
        );
        this.accept({ socket, address, auth, bound: new Set(), queue: Promise.resolve() });
      },
      (err) => {
        // a token that does not verify is refused before the upgrade, like an HTTP request (RFC 6750 §3)
        const refused = err instanceof Refused;
        if (!refused) logger.warn({ err: err?.message }, 'websocket authentication failed');
        const status = refused ? '401 Unauthorized' : '503 Service Unavailable';
        const challenge = refused ? `WWW-Authenticate: Bearer realm="fhir", error="invalid_token"\r\n` : '';
        socket.end(`HTTP/1.1 ${status}\r\n${challenge}Content-Length: 0\r\nConnection: close\r\n\r\n`);
      },
    );
  };

  private accept(c: Connection): void {
    const { socket } = c;
    this.connections.add(c);
    const reader = new FrameReader();
    let partial: Buffer[] = [];
    const close = () => {
      this.connections.delete(c);
      for (const id of c.bound) this.bindings.get(id)?.delete(c);
    };
    socket.on('close', close);
    socket.on('error', close);
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch {
        socket.end(closeFrame(TOO_BIG, 'message too big'));
        return;
      }
      for (const f of frames) {
        if (f.opcode === OPCODE.close) {
          socket.end(encodeFrame(OPCODE.close, f.payload.subarray(0, 2)));
        } else if (f.opcode === OPCODE.ping) {
          socket.write(encodeFrame(OPCODE.pong, f.payload));
        } else if (f.opcode === OPCODE.text || f.opcode === OPCODE.continuation) {
          partial.push(f.payload);
          if (!f.fin) continue;
          const text = Buffer.concat(partial).toString('utf8').trim();
          partial = [];
          // one command at a time: `auth` must be settled before the `bind` sent right after it
          c.queue = c.queue
            .then(() => this.command(c, text))
            .catch((err) => {
              logger.warn({ err: err?.message }, 'websocket command failed');
              this.send(c, 'error: the server could not process the message');
            });
        }
      }
    });
  }

  /** `auth {token}`, `bind {id}`, `unbind {id}`; anything else is answered with an error line. */
  private async command(c: Connection, text: string): Promise<void> {
    if (c.socket.destroyed) return;
    const [verb, arg, ...rest] = text.split(/\s+/);
    if (verb === 'auth' && arg && !rest.length) return this.authenticate(c, arg);
    if (verb === 'bind' && arg && !rest.length) return this.bind(c, arg);
    if (verb === 'unbind' && arg && !rest.length) {
      c.bound.delete(arg);
      this.bindings.get(arg)?.delete(c);
      this.send(c, `unbound ${arg}`);
      return;
    }
    this.send(c, 'error: expected "bind <subscription id>" (or "auth <access token>", "unbind <subscription id>")');
  }

  /** A (new) token for the socket; every Subscription already bound must still be readable with it. */
  private async authenticate(c: Connection, token: string): Promise<void> {
    try {
      const auth = await this.access.authenticate(token, c.address);
      for (const id of c.bound) await this.access.checkBind(auth, id, c.address);
      c.auth = auth;
      this.send(c, 'authenticated');
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      this.refuse(c, `error: ${err.message}`);
    }
  }

  private async bind(c: Connection, id: string): Promise<void> {
    try {
      await this.access.checkBind(c.auth, id, c.address);
      const current = await this.storage.readCurrent('Subscription', id);
      const s = current && !current.deleted ? JSON.parse(current.content!) : undefined;
      if (s?.channel?.type !== 'websocket') throw new Refused('no websocket Subscription with this id');
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      this.refuse(c, `error ${id}: ${err.message}`);
      return;
    }
    c.bound.add(id);
    if (!this.bindings.has(id)) this.bindings.set(id, new Set());
    this.bindings.get(id)!.add(c);
    this.send(c, `bound ${id}`);
  }

  private ping(id: string): void {
    for (const c of this.bindings.get(id) ?? []) {
      if (!c.auth) {
        this.send(c, `ping ${id}`);
        continue;
      }
      // a ping tells that something changed: only while the token that bound it is still good
      const auth = c.auth;
      void this.access.stillValid(auth).then((ok) => {
        if (c.auth !== auth) return; // replaced meanwhile by `auth`: that token was checked
        if (ok) this.send(c, `ping ${id}`);
        else this.refuse(c, 'error: the access token has expired or was revoked');
      });
    }
  }

  private send(c: Connection, text: string): void {
    if (!c.socket.destroyed && c.socket.writable) c.socket.write(encodeFrame(OPCODE.text, text));
  }

  /** The error line, then a close frame (policy violation); the socket's bindings end with it. */
  private refuse(c: Connection, text: string): void {
    this.send(c, text);
    for (const id of c.bound) this.bindings.get(id)?.delete(c);
    c.bound.clear();
    if (!c.socket.destroyed) c.socket.end(closeFrame(POLICY_VIOLATION, 'refused'));
  }
}

function closeFrame(code: number, reason: string): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return encodeFrame(OPCODE.close, payload);
}

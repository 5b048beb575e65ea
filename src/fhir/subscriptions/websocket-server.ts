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
import { acceptKey, encodeFrame, FrameReader, OPCODE } from './websocket-frames';

export const WEBSOCKET_PATH = '/fhir/websocket';
const KEEPALIVE_MS = 30_000;

/**
 * The R4 websocket channel (subscription.html#2.46.7.2): a client opens
 * `ws(s)://{host}/fhir/websocket`, sends `bind {subscription id}` (answered
 * `bound {id}`) and then receives `ping {id}` each time that Subscription
 * has a notification; it fetches the data itself with its own token, so the
 * socket never carries resource content. The URL is announced in the
 * CapabilityStatement (capabilitystatement-websocket extension).
 */
@Injectable()
export class SubscriptionWebSocketServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly bindings = new Map<string, Set<Duplex>>();
  private readonly sockets = new Set<Duplex>();
  private unsubscribe?: () => void;
  private keepalive?: NodeJS.Timeout;
  private server?: { off(event: string, l: (...a: any[]) => void): void };

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly events: SubscriptionEvents,
    private readonly storage: StorageService,
    private readonly capability: CapabilityService,
    @Inject(BASE_URL) private readonly baseUrl: string,
  ) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer();
    if (!server) return;
    server.on('upgrade', this.onUpgrade);
    this.server = server;
    this.unsubscribe = this.events.on((id) => this.ping(id));
    this.keepalive = setInterval(() => {
      for (const s of this.sockets) s.write(encodeFrame(OPCODE.ping, ''));
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
    for (const s of this.sockets) s.destroy();
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex): void => {
    if ((req.url ?? '').split('?')[0] !== WEBSOCKET_PATH) return; // not ours: another upgrade handler may take it
    const key = req.headers['sec-websocket-key'];
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string' || req.headers['sec-websocket-version'] !== '13') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
    );
    this.accept(socket);
  };

  private accept(socket: Duplex): void {
    this.sockets.add(socket);
    const reader = new FrameReader();
    let partial: Buffer[] = [];
    const bound = new Set<string>();
    const close = () => {
      this.sockets.delete(socket);
      for (const id of bound) this.bindings.get(id)?.delete(socket);
    };
    socket.on('close', close);
    socket.on('error', close);
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch {
        socket.end(encodeFrame(OPCODE.close, Buffer.from([0x03, 0xf1]))); // 1009: message too big
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
          this.command(socket, bound, text).catch((err) => logger.warn({ err: err?.message }, 'websocket command failed'));
        }
      }
    });
  }

  /** `bind {id}` / `unbind {id}`; anything else is answered with an error line. */
  private async command(socket: Duplex, bound: Set<string>, text: string): Promise<void> {
    const [verb, id] = text.split(/\s+/);
    if (verb === 'bind' && id) {
      const current = await this.storage.readCurrent('Subscription', id);
      const s = current && !current.deleted ? JSON.parse(current.content!) : undefined;
      if (s?.channel?.type !== 'websocket') {
        socket.write(encodeFrame(OPCODE.text, `error ${id}: no websocket Subscription with this id`));
        return;
      }
      bound.add(id);
      if (!this.bindings.has(id)) this.bindings.set(id, new Set());
      this.bindings.get(id)!.add(socket);
      socket.write(encodeFrame(OPCODE.text, `bound ${id}`));
    } else if (verb === 'unbind' && id) {
      bound.delete(id);
      this.bindings.get(id)?.delete(socket);
      socket.write(encodeFrame(OPCODE.text, `unbound ${id}`));
    } else {
      socket.write(encodeFrame(OPCODE.text, `error: expected "bind <subscription id>"`));
    }
  }

  private ping(id: string): void {
    for (const s of this.bindings.get(id) ?? []) s.write(encodeFrame(OPCODE.text, `ping ${id}`));
  }
}

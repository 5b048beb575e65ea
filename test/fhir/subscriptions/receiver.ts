import * as http from 'http';
import type { AddressInfo } from 'net';
import { encodeFrame, FrameReader, OPCODE } from '../../../src/fhir/subscriptions/websocket-frames';

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A rest-hook endpoint on 127.0.0.1 that records every request; `status(path, n)` decides its answers. */
export class Receiver {
  readonly requests: Received[] = [];
  private server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      this.requests.push({ path: req.url ?? '', headers: req.headers, body, at: Date.now() });
      const n = this.requests.filter((r) => r.path === req.url).length;
      res.statusCode = this.status(req.url ?? '', n);
      res.end();
    });
  });
  status: (path: string, nth: number) => number = () => 200;

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  at(path: string): Received[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Waits until `path` got at least `n` requests (or the timeout). */
  async waitFor(path: string, n: number, timeoutMs = 15_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.at(path).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return this.at(path);
  }
}

/** A minimal WebSocket client (RFC 6455) for the R4 websocket channel. */
export class WsClient {
  readonly messages: string[] = [];
  private socket?: import('stream').Duplex;

  async connect(port: number, path: string): Promise<void> {
    const key = Buffer.from('fhir-test-key-16').toString('base64');
    await new Promise<void>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        path,
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' },
      });
      req.on('upgrade', (_res, socket, head) => {
        this.socket = socket;
        const reader = new FrameReader();
        const onData = (chunk: Buffer) => {
          for (const f of reader.push(chunk)) if (f.opcode === OPCODE.text) this.messages.push(f.payload.toString('utf8'));
        };
        if (head.length) onData(head);
        socket.on('data', onData);
        // the server may reset the socket when it shuts down: that ends the test client, not the test
        socket.on('error', () => undefined);
        resolve();
      });
      req.on('response', (res) => reject(new Error(`no upgrade: HTTP ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
  }

  send(text: string): void {
    this.socket!.write(encodeFrame(OPCODE.text, text, true));
  }

  async waitFor(predicate: (m: string) => boolean, timeoutMs = 10_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found || Date.now() > deadline) return found;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close(): void {
    this.socket?.end(encodeFrame(OPCODE.close, Buffer.from([0x03, 0xe8]), true));
  }
}

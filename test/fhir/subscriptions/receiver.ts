import * as http from 'http';
import type { AddressInfo } from 'net';
import WebSocket from 'ws';

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

/** A WebSocket client (the `ws` package) for the R4 websocket channel: records text messages and how the socket closed. */
export class WsClient {
  readonly messages: string[] = [];
  /** close code and reason once the socket has closed */
  closed?: { code: number; reason: string };
  private socket?: WebSocket;

  /** Opens the socket; rejects with the HTTP status when the server refuses the upgrade. */
  async connect(url: string, headers: Record<string, string> = {}): Promise<void> {
    const socket = new WebSocket(url, { headers });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`no upgrade: HTTP ${res.statusCode}`), { status: res.statusCode, headers: res.headers }));
        res.resume();
      });
      socket.once('error', reject);
    });
    socket.on('message', (data, isBinary) => {
      if (!isBinary) this.messages.push(data.toString());
    });
    socket.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    // the server may reset the socket when it shuts down: that ends the test client, not the test
    socket.on('error', () => undefined);
    this.socket = socket;
  }

  send(text: string): void {
    this.socket!.send(text);
  }

  async waitFor(predicate: (m: string) => boolean, timeoutMs = 10_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found || Date.now() > deadline) return found;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Waits until the server has closed the socket (or the timeout). */
  async waitForClose(timeoutMs = 10_000): Promise<{ code: number; reason: string } | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    return this.closed;
  }

  close(): void {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
  }
}

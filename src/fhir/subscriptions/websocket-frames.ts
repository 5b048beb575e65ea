import { createHash, randomBytes } from 'crypto';

/**
 * The few parts of RFC 6455 (WebSocket) the R4 websocket channel needs: the
 * opening handshake and text, close, ping and pong frames. Messages are
 * short (`bind <id>`, `ping <id>`), so frames are capped at 64 KiB.
 */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_PAYLOAD = 64 * 1024;

export const OPCODE = { continuation: 0, text: 1, close: 8, ping: 9, pong: 10 } as const;

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** One frame; clients must mask theirs, servers must not (RFC 6455 §5.1). */
export function encodeFrame(opcode: number, payload: Buffer | string, masked = false): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const len = data.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.alloc(head + (masked ? 4 : 0) + len);
  frame[0] = 0x80 | opcode;
  if (len < 126) frame[1] = len;
  else if (len < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!masked) {
    data.copy(frame, head);
    return frame;
  }
  frame[1] |= 0x80;
  const mask = randomBytes(4);
  mask.copy(frame, head);
  for (let i = 0; i < len; i++) frame[head + 4 + i] = data[i] ^ mask[i % 4];
  return frame;
}

export interface Frame {
  opcode: number;
  fin: boolean;
  payload: Buffer;
}

/** Splits a byte stream into frames (unmasking them); throws on frames too large to be ours. */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const frames: Frame[] = [];
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) break;
      let len = b[1] & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        const big = b.readBigUInt64BE(2);
        if (big > BigInt(MAX_PAYLOAD)) throw new Error('frame too large');
        len = Number(big);
        offset = 10;
      }
      if (len > MAX_PAYLOAD) throw new Error('frame too large');
      const masked = (b[1] & 0x80) !== 0;
      const total = offset + (masked ? 4 : 0) + len;
      if (b.length < total) break;
      const payload = Buffer.from(b.subarray(total - len, total));
      if (masked) {
        const mask = b.subarray(offset, offset + 4);
        for (let i = 0; i < len; i++) payload[i] ^= mask[i % 4];
      }
      frames.push({ opcode: b[0] & 0x0f, fin: (b[0] & 0x80) !== 0, payload });
      this.buffer = b.subarray(total);
    }
    return frames;
  }
}

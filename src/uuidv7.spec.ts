import { uuidv7 } from './uuidv7';

// RFC 9562 §5.7: 48-bit Unix ms timestamp, version 7, variant 10, the rest random
const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const msOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

describe('uuidv7 (RFC 9562 §5.7)', () => {
  it('has version 7, the RFC variant, and the given time in its first 48 bits', () => {
    const t = Date.UTC(2026, 10, 27, 17, 30, 0, 123);
    const id = uuidv7(t);
    expect(id).toMatch(V7);
    expect(msOf(id)).toBe(t);
  });

  it('orders by time (ids of later milliseconds sort after, as text too) and does not repeat', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => uuidv7(1_700_000_000_000 + Math.floor(i / 10)));
    for (let i = 10; i < ids.length; i += 10) expect(ids[i] > ids[i - 1]).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // 74 random bits per id: the ids of one millisecond differ in their random part
    expect(new Set(ids.slice(0, 10).map((x) => x.slice(15))).size).toBe(10);
  });
});

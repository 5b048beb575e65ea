import { GroupCommit, GroupCommitOptions } from './group-commit';

/** A group commit whose first statement stays in flight until `release()` (a slow commit). */
function gated(opts: GroupCommitOptions) {
  const batches: number[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const gc = new GroupCommit<number>(async (items) => {
    batches.push(items);
    if (batches.length === 1) await gate;
  }, opts);
  return { gc, batches, release: () => release() };
}

describe('GroupCommit', () => {
  it('items arriving while a statement is in flight share the next one', async () => {
    const { gc, batches, release } = gated({ maxBatch: 100, maxInFlight: 1 });
    const first = gc.add(0);
    await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 10 }, (_, i) => gc.add(i + 1));
    expect(gc.pending).toBe(11);
    release();
    await Promise.all([first, ...rest]);
    expect(batches).toEqual([[0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]);
    expect(gc.pending).toBe(0);
  });

  it('a failed statement rejects every item it carried, and only those', async () => {
    let n = 0;
    const gc = new GroupCommit<string>(async () => {
      if (n++ === 0) throw new Error('database blip');
    }, { maxBatch: 2, maxInFlight: 1 });
    const results = await Promise.allSettled(['a', 'b', 'c'].map((x) => gc.add(x)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
  });

  it('a statement reporting failures item by item rejects only those items', async () => {
    const gc = new GroupCommit<string>(async (items) => items.map((x) => (x === 'bad' ? new Error('refused') : undefined)), { maxBatch: 10, maxInFlight: 1 });
    const results = await Promise.allSettled(['a', 'bad', 'c'].map((x) => gc.add(x)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('drain waits for everything added', async () => {
    const written: number[] = [];
    const gc = new GroupCommit<number>(async (items) => {
      await new Promise((r) => setTimeout(r, 5));
      written.push(...items);
    }, { maxBatch: 3, maxInFlight: 2 });
    for (let i = 0; i < 10; i++) void gc.add(i);
    await gc.drain();
    expect(written.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a lone item goes at once; a statement waits for announced items, at most maxWaitMs', async () => {
    const batches: string[][] = [];
    const starts: number[] = [];
    const gc = new GroupCommit<string>(async (items) => {
      batches.push(items);
      starts.push(Date.now());
    }, { maxBatch: 100, maxInFlight: 2, maxWaitMs: 200 });
    let t0 = Date.now();
    await gc.add('lone');
    expect(starts[0] - t0).toBeLessThan(100);

    // three requests in progress: the first to finish waits while fewer than half have arrived
    const arrived = [gc.announce(), gc.announce(), gc.announce()];
    arrived[0]();
    const a = gc.add('a');
    await new Promise((r) => setTimeout(r, 20));
    expect(batches).toHaveLength(1);
    arrived[1]();
    const b = gc.add('b');
    await Promise.all([a, b]);
    expect(batches[1]).toEqual(['a', 'b']);

    // requests that never record (their clients went away): cancelling the announcements releases the wait
    const more = [gc.announce(), gc.announce()];
    const c = gc.add('c');
    await new Promise((r) => setTimeout(r, 20));
    expect(batches).toHaveLength(2);
    arrived[2]();
    arrived[2](); // idempotent
    await new Promise((r) => setTimeout(r, 20));
    expect(batches).toHaveLength(2);
    more[0]();
    await c;
    expect(batches[2]).toEqual(['c']);
    more[1]();

    // announcements never settled: the item waits maxWaitMs, then goes
    const stuck = [gc.announce(), gc.announce()];
    t0 = Date.now();
    await gc.add('d');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(batches[3]).toEqual(['d']);
    stuck.forEach((f) => f());
  });

  it('while a statement is in flight, the next one waits until every announced item has arrived', async () => {
    const { gc, batches, release } = gated({ maxBatch: 100, maxInFlight: 2, maxWaitMs: 1000 });
    const first = gc.add(0);
    await new Promise((r) => setImmediate(r));
    const arrived = Array.from({ length: 4 }, () => gc.announce());
    const rest: Promise<void>[] = [];
    for (let i = 0; i < 4; i++) {
      arrived[i]();
      rest.push(gc.add(i + 1));
      await new Promise((r) => setTimeout(r, 5));
      // a second statement could start (two may be in flight), but items are still on their way
      expect(batches).toHaveLength(i < 3 ? 1 : 2);
    }
    await Promise.all(rest);
    expect(batches[1]).toEqual([1, 2, 3, 4]);
    release();
    await first;
  });
});

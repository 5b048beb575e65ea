import { GroupCommit } from './group-commit';

describe('GroupCommit', () => {
  it('items arriving while a statement is in flight share the next one', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gc = new GroupCommit<number>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await gate;
    }, { maxBatch: 100, maxInFlight: 1 });
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

  it('keeps a minimum interval between statements under load; a lone item goes at once', async () => {
    const starts: number[] = [];
    const gc = new GroupCommit<number>(async () => {
      starts.push(Date.now());
    }, { maxBatch: 100, maxInFlight: 1, minIntervalMs: 20 });
    const t0 = Date.now();
    await gc.add(1);
    expect(starts[0] - t0).toBeLessThan(15);
    await Promise.all([gc.add(2), gc.add(3)]);
    expect(starts).toHaveLength(2);
    expect(starts[1] - starts[0]).toBeGreaterThanOrEqual(19);
  });
});

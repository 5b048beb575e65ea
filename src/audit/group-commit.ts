interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /** most items written by one statement */
  maxBatch: number;
  /** statements in flight at once; items arriving meanwhile wait and share the next one */
  maxInFlight: number;
  /**
   * longest an item waits for announced items to join its statement (ms);
   * without announcements (`announce`) items are written as soon as a
   * statement slot is free
   */
  maxWaitMs?: number;
}

/**
 * Group commit: `add` resolves once the item is durably written. Items that
 * arrive while earlier statements are in flight are written together by the
 * next statement, so under load many requests share one INSERT and one
 * commit, while a lone request is written at once. A failed statement
 * rejects every item it carried (the caller fails the request: nothing
 * leaves unaudited); `write` may instead report failures item by item.
 *
 * A durable commit costs far more than a row (its WAL flush), so the fewer
 * statements the better, but waiting for more items costs latency and, at a
 * fixed number of clients, idle CPU. Callers therefore `announce` the items
 * that are on their way (requests being processed): while a statement is in
 * flight, the next one waits until every announced item has arrived (the
 * CPU has nothing else to do then) or `maxWaitMs` passed; with none in
 * flight, one starts once at least half of what is expected has arrived, so
 * the commit overlaps with the rest of the work. With one statement in flight
 * at most (`AuditService`), a steady load settles into cohorts: the requests
 * processed while a commit runs share the next one.
 */
export class GroupCommit<T> {
  private queue: Pending<T>[] = [];
  private firstQueuedAt = 0;
  private inFlight = 0;
  private expected = 0;
  private scheduled = false;
  private timer?: NodeJS.Timeout;
  private idle: (() => void)[] = [];

  constructor(
    /** writes the items; a rejection fails them all, an array fails only the items whose entry is defined */
    private readonly write: (items: T[]) => Promise<void | readonly unknown[]>,
    private readonly opts: GroupCommitOptions,
  ) {}

  /**
   * An item is on its way: call the returned function when it is added, or
   * when it will not come (idempotent).
   */
  announce(): () => void {
    this.expected++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.expected--;
      if (this.queue.length > 0) this.schedule();
    };
  }

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.queue.length === 0) this.firstQueuedAt = Date.now();
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting or being written. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** Announced items that have neither arrived nor been cancelled. */
  get announced(): number {
    return this.expected;
  }

  /** Resolves when everything added so far is written (or failed). */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle.push(resolve);
      this.pump(true);
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // let the other responses finishing in this turn of the event loop join the batch
    setImmediate(() => {
      this.scheduled = false;
      this.pump(false);
    });
  }

  /** Whether the queue should wait for announced items (and how long at most). */
  private waitFor(): number {
    const maxWait = this.opts.maxWaitMs ?? 0;
    const waited = Date.now() - this.firstQueuedAt;
    if (waited >= maxWait || this.queue.length >= this.opts.maxBatch) return 0;
    const coming = this.expected;
    const enough = this.inFlight === 0 ? this.queue.length >= coming : coming === 0;
    return enough ? 0 : maxWait - waited;
  }

  private pump(force: boolean): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const wait = force ? 0 : this.waitFor();
      if (wait > 0) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.pump(false);
        }, wait);
        return;
      }
      // the statement goes before the wait ran out (the announced items arrived, or a drain):
      // the timer has nothing left to do (a later wait starts its own)
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.firstQueuedAt = Date.now();
      this.inFlight++;
      this.write(batch.map((p) => p.item)).then(
        (errors) => batch.forEach((p, i) => (errors?.[i] === undefined ? p.resolve() : p.reject(errors[i]))),
        (err) => batch.forEach((p) => p.reject(err)),
      ).finally(() => {
        this.inFlight--;
        this.pump(this.idle.length > 0);
        if (this.queue.length === 0 && this.inFlight === 0) this.idle.splice(0).forEach((f) => f());
      });
    }
  }
}

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
   * least time between the starts of two statements (ms): under sustained
   * load the commit rate stays bounded (each commit costs far more than a
   * row) while a lone item still goes at once
   */
  minIntervalMs?: number;
}

/**
 * Group commit: `add` resolves once the item is durably written. Items that
 * arrive while earlier statements are in flight are written together by the
 * next statement, so under load many requests share one INSERT and one
 * commit, while a lone request is written at once. A failed statement
 * rejects every item it carried (the caller fails the request: nothing
 * leaves unaudited).
 */
export class GroupCommit<T> {
  private queue: Pending<T>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private lastStart = 0;
  private timer?: NodeJS.Timeout;
  private idle: (() => void)[] = [];

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly opts: GroupCommitOptions,
  ) {}

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // let the other responses finishing in this turn of the event loop join the batch
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  /** Items waiting or being written. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** Resolves when everything added so far is written (or failed). */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle.push(resolve);
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const wait = this.lastStart + (this.opts.minIntervalMs ?? 0) - Date.now();
      if (wait > 0) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      this.lastStart = Date.now();
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.inFlight++;
      this.write(batch.map((p) => p.item)).then(
        () => batch.forEach((p) => p.resolve()),
        (err) => batch.forEach((p) => p.reject(err)),
      ).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.queue.length === 0 && this.inFlight === 0) this.idle.splice(0).forEach((f) => f());
      });
    }
  }
}

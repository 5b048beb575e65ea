import * as fs from 'fs';

/**
 * Appends NDJSON lines to a file with backpressure: the exporter awaits the
 * disk, so a fast database never piles lines up in memory.
 */
export class NdjsonWriter {
  count = 0;
  private readonly stream: fs.WriteStream;
  private failure?: Error;

  constructor(readonly path: string) {
    this.stream = fs.createWriteStream(path, { flags: 'w' });
    this.stream.on('error', (err) => (this.failure = err));
  }

  /** `json` is one resource serialized on a single line (stored resources are). */
  async write(json: string): Promise<void> {
    if (this.failure) throw this.failure;
    this.count++;
    if (!this.stream.write(json + '\n')) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off('drain', done);
          this.stream.off('error', done);
          resolve();
        };
        this.stream.on('drain', done);
        this.stream.on('error', done);
      });
      if (this.failure) throw this.failure;
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }
}

// Closers collects cleanup callbacks so a constructor that acquires several resources can release
// them all when a later step fails, and an owner can release them in reverse order on close.

export type CloseFn = () => void | Promise<void>;

export class Closers {
  #fns: CloseFn[] = [];

  push(fn: CloseFn): void {
    this.#fns.push(fn);
  }

  /** Runs every callback once, newest first; throws an AggregateError if any failed. */
  async closeAll(): Promise<void> {
    const fns = this.#fns.reverse();
    this.#fns = [];
    const errors: unknown[] = [];
    for (const fn of fns) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  }
}

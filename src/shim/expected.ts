// Containers `start` has routed to this live daemon and containerd has not created yet. While one
// is expected, a daemon with no containers must not exit: containerd is about to connect.

/** How long an announced container holds the daemon open (containerd dials and creates at once). */
export const EXPECT_HOLD_MS = 30_000;

export class ExpectedContainers {
  readonly #expiries = new Map<string, NodeJS.Timeout>();
  readonly #onExpire: () => void;
  #closed = false;

  /** `onExpire` runs when an expectation lapses without its Create. */
  constructor(
    onExpire: () => void,
    readonly holdMs = EXPECT_HOLD_MS,
  ) {
    this.#onExpire = onExpire;
  }

  /** Records an announced container; false once the daemon has decided to exit. */
  expect(id: string): boolean {
    if (this.#closed) return false;
    clearTimeout(this.#expiries.get(id));
    const timer = setTimeout(() => {
      this.#expiries.delete(id);
      this.#onExpire();
    }, this.holdMs);
    timer.unref();
    this.#expiries.set(id, timer);
    return true;
  }

  /** containerd's Create for `id` arrived: the daemon's containers account for it now. */
  arrived(id: string): void {
    clearTimeout(this.#expiries.get(id));
    this.#expiries.delete(id);
  }

  /** The containers announced and not created yet (handed over by a live upgrade). */
  ids(): string[] {
    return [...this.#expiries.keys()];
  }

  get pending(): boolean {
    return this.#expiries.size > 0;
  }

  /** The daemon exits: later announcements are refused, so `start` starts a new daemon. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#expiries.values()) clearTimeout(timer);
    this.#expiries.clear();
  }
}

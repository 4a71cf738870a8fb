// A container's output pipe copied into a FIFO with splice(2): the bytes never enter Node, and a
// native thread moves them, so they never wait for Node's event loop. Back-pressure is the
// kernel's: when the FIFO is full (nobody reads), nothing more is taken from the pipe, so the
// container blocks in write(2) exactly as with a stream copy; no buffer in between.
import { native, POLL_READABLE, type FdWatcher, type SplicePump } from '../native/index.js';

/**
 * 'eof': the source ended and all of it was moved. 'stopped': stop() was called. 'fallback': the
 * kernel refused a splice (EINVAL for fds it cannot splice, or any error mid-stream); what was not
 * moved is still in the source, for the caller to copy another way.
 */
export type SpliceEnd = 'eof' | 'stopped' | 'fallback';

/** Copies until `src` ends; neither fd is owned (the caller closes them after `stop()` or the end). */
export class SpliceCopy {
  readonly done: Promise<SpliceEnd>;
  #resolve!: (end: SpliceEnd) => void;
  #pump: SplicePump;
  #doneWatch: FdWatcher;
  #stopped = false;
  /** The error code of a refused splice (with 'fallback'). */
  error: string | undefined;

  constructor(
    readonly src: number,
    readonly dst: number,
  ) {
    this.done = new Promise((resolve) => (this.#resolve = resolve));
    // As a stream copy would leave it, for whatever reads the source after a fallback.
    native.setNonBlocking(src, true);
    this.#pump = new native.SplicePump(src, dst);
    this.#doneWatch = new native.FdWatcher(this.#pump.doneFd, () => {
      const state = this.#pump.state();
      if (state.end === 'running') return; // not yet: the eventfd is written last
      this.error = state.code;
      this.finish(state.end === 'eof' ? 'eof' : 'fallback');
    });
    this.#doneWatch.start(POLL_READABLE);
  }

  /** Bytes moved so far. */
  get moved(): number {
    return this.#pump.state().moved;
  }

  private finish(end: SpliceEnd): void {
    this.#resolve(end);
    this.stop();
  }

  /** Ends the thread (before the fds are closed); the copy ends where it is. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#doneWatch.close(); // before the pump closes the fd it watches
    this.#pump.stop();
    this.#resolve('stopped');
  }
}

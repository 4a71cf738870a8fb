// A container's output pipe copied into a FIFO with splice(2): the bytes never enter Node. Back-
// pressure is the kernel's: when the FIFO is full (nobody reads), nothing more is taken from the
// pipe, so the container blocks in write(2) exactly as with a stream copy; no buffer in between.
import {
  native,
  POLL_READABLE,
  POLL_WRITABLE,
  SPLICE_IN_EMPTY,
  SPLICE_OUT_FULL,
  type FdWatcher,
} from '../native/index.js';
import { errorCode } from '../base/errors.js';

/** Bytes per splice call (the kernel moves at most a pipe's worth anyway). */
const CHUNK = 1 << 20;
/** Calls before yielding to the event loop, so a flood never starves the shim. */
const BURST = 64;

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
  #srcWatch: FdWatcher;
  #dstWatch: FdWatcher;
  #stopped = false;
  /** The error code of a refused splice (with 'fallback'). */
  error: string | undefined;
  /** Bytes moved so far. */
  moved = 0;

  constructor(
    readonly src: number,
    readonly dst: number,
  ) {
    this.done = new Promise((resolve) => (this.#resolve = resolve));
    native.setNonBlocking(src, true);
    this.#srcWatch = new native.FdWatcher(src, () => {
      this.#srcWatch.start(0);
      this.pump();
    });
    this.#dstWatch = new native.FdWatcher(dst, () => {
      this.#dstWatch.start(0);
      this.pump();
    });
    this.pump();
  }

  /**
   * Moves what can be moved now, without waiting for the watchers: after a stall, timers run
   * before readiness is polled, so a caller about to give up on the copy tries this first.
   */
  pumpNow(): void {
    this.pump();
  }

  private pump(): void {
    if (this.#stopped) return;
    for (let i = 0; i < BURST; i++) {
      let n: number;
      try {
        n = native.spliceOnce(this.src, this.dst, CHUNK);
      } catch (err) {
        this.error = errorCode(err) ?? 'error';
        this.finish('fallback');
        return;
      }
      if (n > 0) {
        this.moved += n;
        continue;
      }
      if (n === 0) this.finish('eof');
      else if (n === SPLICE_IN_EMPTY) this.#srcWatch.start(POLL_READABLE);
      else if (n === SPLICE_OUT_FULL) this.#dstWatch.start(POLL_WRITABLE);
      return;
    }
    setImmediate(() => {
      this.pump();
    });
  }

  private finish(end: SpliceEnd): void {
    this.#resolve(end);
    this.stop();
  }

  /** Stops watching (before the fds are closed); the copy ends where it is. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#srcWatch.close();
    this.#dstWatch.close();
    this.#resolve('stopped');
  }
}

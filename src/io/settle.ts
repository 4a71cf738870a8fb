// Holding a process's exit until its client has read the output written before it.
//
// containerd's client library cancels a process's IO as soon as it learns of the exit:
// `Task.Delete` calls the IO's Cancel, which closes its FIFO readers, and only then waits for its
// copies. Output still in a FIFO at that moment is lost, under the reference shim as under ours:
// `ctr run` writing into a pipe that its own reader drains slowly loses the last ~100 KiB on
// every run (the FIFO's and the pipe's buffers). So the exit is reported only once what the
// process wrote is out of our hands and read by the client: nothing in the process's pipes, in
// our buffers, or in the FIFOs. A client that reads nothing for SETTLE_QUIET_MS ends the wait
// (nobody reads: a detached client, containerd down), and SETTLE_CAP_MS bounds it whatever moves
// (another process keeps writing into the pipes).
import { native } from '../native/index.js';
// A held timer: an exit waiting to be published keeps the process alive.
import { setTimeout as sleep } from 'node:timers/promises';

const SETTLE_QUIET_MS = 500;
const SETTLE_CAP_MS = 3000;
/** Longest pause between two looks (the kernel says nothing when a FIFO has been read empty). */
const POLL_MAX_MS = 8;

export interface SettleSource {
  /** Bytes written by the process and not yet read by the client, wherever they wait. */
  pending(): number;
}

/** Bytes waiting in the pipes or FIFOs `fds` (either end); a closed fd holds none. */
export function unreadIn(fds: Iterable<number>): number {
  let n = 0;
  for (const fd of fds) {
    if (fd < 0) continue;
    try {
      n += native.unreadBytes(fd);
    } catch {
      // closed meanwhile: nothing waits there any more
    }
  }
  return n;
}

/** Resolves once `source` has nothing pending, or it stopped moving, or at the cap. */
export async function settle(
  source: SettleSource,
  quietMs = SETTLE_QUIET_MS,
  capMs = SETTLE_CAP_MS,
): Promise<void> {
  const start = Date.now();
  let last = source.pending();
  let movedAt = start;
  let delay = 1;
  while (last > 0 && Date.now() - start < capMs) {
    await sleep(delay);
    let pending = source.pending();
    if (pending === last && Date.now() - movedAt >= quietMs) {
      // After a stall, timers run before readiness is polled: let stream copies (file://, a
      // fallback) take what is ready before giving up.
      await new Promise((resolve) => setImmediate(resolve));
      pending = source.pending();
      if (pending === last) return;
    }
    if (pending !== last) {
      movedAt = Date.now();
      delay = 1;
    } else delay = Math.min(delay * 2, POLL_MAX_MS);
    last = pending;
  }
}

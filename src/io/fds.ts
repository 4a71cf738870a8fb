// File-descriptor ownership and the FIFO open order shared by pipe mode (ProcessIO) and console
// mode (Console). Every FIFO open is O_NONBLOCK, so no libuv thread is ever parked in open(2): an
// output FIFO's writer waits for the client's reader by retrying, not by blocking.
import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { errorCode } from '../base/errors.js';
import { sleep } from '../base/deferred.js';

// Node opens every file with O_CLOEXEC already.
const { O_RDONLY, O_WRONLY, O_NONBLOCK } = constants;

/** Closes an fd, ignoring one already closed. */
export function safeClose(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** fds one object owns and closes together at the end, each at most once. */
export class OwnedFds {
  readonly #fds = new Set<number>();

  add(fd: number): number {
    this.#fds.add(fd);
    return fd;
  }

  /** Ownership moves elsewhere (a stream now closes it). */
  release(fd: number): number {
    this.#fds.delete(fd);
    return fd;
  }

  /** Closes one owned fd now. */
  close(fd: number): void {
    if (this.#fds.delete(fd)) safeClose(fd);
  }

  /** The fds owned now (for a live upgrade's handover). */
  list(): number[] {
    return [...this.#fds];
  }

  closeAll(): void {
    for (const fd of this.#fds) safeClose(fd);
    this.#fds.clear();
  }
}

/** A stream on a pipe or FIFO fd, which it then owns; its errors end a copy, never the shim. */
export function fdStream(fd: number, mode: 'read' | 'write'): Socket {
  const socket = new Socket({ fd, readable: mode === 'read', writable: mode === 'write' });
  socket.on('error', () => undefined);
  return socket;
}

/**
 * A stdin FIFO: our reader, then the keep-alive writer (it succeeds: a reader exists). While the
 * keep-alive is open the copy sees no EOF when a client goes away; CloseIO closes it.
 */
export function openStdinFifo(path: string, fds: OwnedFds): { reader: number; keepAlive: number } {
  const reader = fds.add(openSync(path, O_RDONLY | O_NONBLOCK));
  const keepAlive = fds.add(openSync(path, O_WRONLY | O_NONBLOCK));
  return { reader, keepAlive };
}

/**
 * How long an output FIFO's writer waits for the client's reader to open its end. Clients open
 * their reader before they ask for the process (containerd's cio does), so this is a wait only
 * when a starved client is late; a client that never comes costs this once, then the output
 * waits in the FIFO behind our keep-alive reader.
 */
const READER_WAIT_MS = 10_000;
/** Longest pause between two tries while waiting for that reader. */
const READER_POLL_MAX_MS = 20;

/**
 * A stdout/stderr FIFO: our writer, opened once the client's reader is there (as the reference's
 * blocking open), then a never-read keep-alive reader (so the container gets no SIGPIPE while
 * containerd restarts). Both stay owned by `fds`.
 *
 * The order matters. Go clients open their reader blocking, and a blocked open(2) for reading
 * only returns when a writer opens; a reader that starts opening after our writer has come and
 * gone (a short-lived process, a starved client) waits for a writer that never comes, and the
 * client then cancels it: the output, in the FIFO behind our keep-alive reader, is lost. A reader
 * blocked in open(2) already counts, so a non-blocking open for writing succeeds exactly when
 * the client is there (ENXIO otherwise); no libuv thread is parked. The keep-alive reader also
 * tells how much output the client has not read yet (settle.ts).
 */
export async function openOutputFifo(
  path: string,
  fds: OwnedFds,
): Promise<{ writer: number; keepAlive: number }> {
  const writer = await openWhenRead(path, fds);
  const keepAlive = fds.add(openSync(path, O_RDONLY | O_NONBLOCK));
  // No client came: open anyway (our keep-alive reader is there), as before it did.
  return {
    writer: writer >= 0 ? writer : fds.add(openSync(path, O_WRONLY | O_NONBLOCK)),
    keepAlive,
  };
}

/** Our writer, once some reader has the FIFO open; -1 if none came within READER_WAIT_MS. */
async function openWhenRead(path: string, fds: OwnedFds): Promise<number> {
  const deadline = Date.now() + READER_WAIT_MS;
  for (let delay = 1; ; delay = Math.min(delay * 2, READER_POLL_MAX_MS)) {
    try {
      return fds.add(openSync(path, O_WRONLY | O_NONBLOCK));
    } catch (err) {
      if (errorCode(err) !== 'ENXIO') throw err;
    }
    if (Date.now() >= deadline) return -1;
    await sleep(delay);
  }
}

/** Everything read from `fd` until its writers are gone; takes ownership of `fd`. */
export function readToEnd(fd: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = new Socket({ fd, readable: true, writable: false });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      resolve(Buffer.concat(chunks));
    });
  });
}

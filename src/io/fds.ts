// File-descriptor ownership and the FIFO open order shared by pipe mode (ProcessIO) and console
// mode (Console). Every FIFO open is O_NONBLOCK in an order that cannot block or fail (a reader
// exists before any writer is opened), so no libuv thread is ever parked in open(2).
import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';

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
 * A stdout/stderr FIFO: a never-read keep-alive reader first (so the container gets no SIGPIPE
 * while containerd restarts), then our writer. Both stay owned by `fds`.
 */
export function openOutputFifo(path: string, fds: OwnedFds): number {
  fds.add(openSync(path, O_RDONLY | O_NONBLOCK));
  return fds.add(openSync(path, O_WRONLY | O_NONBLOCK));
}

// The CLI's ends of a container's stdio FIFOs. Opening a FIFO blocks until the other side opens
// it (the shim does at Create), so opens run in the background and are awaited after Create.
import { closeSync, constants, open, openSync } from 'node:fs';
import net from 'node:net';
import { execa } from 'execa';

export async function makeFifo(path: string): Promise<void> {
  await execa('mkfifo', ['-m', '0600', path]);
}

/** One end of a FIFO, opened once the shim opens the other. */
export class FifoEnd {
  readonly #path: string;
  readonly #opened: Promise<net.Socket>;
  #settled = false;

  constructor(path: string, mode: 'read' | 'write') {
    this.#path = path;
    const flags = mode === 'read' ? constants.O_RDONLY : constants.O_WRONLY;
    this.#opened = new Promise((resolve, reject) => {
      open(path, flags, (err, fd) => {
        this.#settled = true;
        if (err) reject(err);
        else resolve(new net.Socket({ fd, readable: mode === 'read', writable: mode === 'write' }));
      });
    });
  }

  get socket(): Promise<net.Socket> {
    return this.#opened;
  }

  /** Releases a pending open (the shim never came): open the other end once, and close it. */
  abandon(): void {
    if (this.#settled) return;
    try {
      closeSync(openSync(this.#path, constants.O_RDWR | constants.O_NONBLOCK));
    } catch {
      // Gone already.
    }
    void this.#opened.then(
      (s) => s.destroy(),
      () => undefined,
    );
  }
}

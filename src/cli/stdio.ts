// Copies the CLI's own stdio to and from a process's FIFOs, and with a terminal puts the CLI's
// tty in raw mode and passes window size changes on.
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import type { ShimClient } from '../client/index.js';
import { openReader, openWriter, type FifoSet } from './fifo.js';

export interface Attached {
  /** Resolves when every output FIFO has reached EOF. */
  drained: Promise<void>;
  /**
   * Copies what is left in the output FIFOs and stops reading, for when the shim has drained its
   * copies (after Delete) but still holds a writer, so EOF would not come.
   */
  finish(): void;
  detach(): void;
}

/** Attaches after Create/Exec: the shim's ends of the FIFOs are open by then. */
export function attach(
  client: ShimClient,
  fifos: FifoSet,
  ids: { id: string; execId?: string },
  terminal: boolean,
): Attached {
  const paths = terminal ? [fifos.stdout] : [fifos.stdout, fifos.stderr];
  const outputs: Socket[] = paths.map(openReader);
  outputs[0]?.pipe(process.stdout, { end: false });
  outputs[1]?.pipe(process.stderr, { end: false });
  const drained = Promise.all(outputs.map((s) => once(s, 'close'))).then(() => undefined);

  const stdin = openWriter(fifos.stdin);
  const closeIO = { id: ids.id, exec_id: ids.execId ?? '', stdin: true };
  // The shim sees EOF once our writer is closed and CloseIO has dropped its own keep-alive one.
  stdin.on('close', () => {
    client.closeIO(closeIO).catch(() => undefined);
  });
  process.stdin.pipe(stdin);

  const raw = terminal && process.stdin.isTTY;
  if (raw) process.stdin.setRawMode(true);
  const resize = (): void => {
    const { columns, rows } = process.stdout;
    if (!columns || !rows) return;
    client
      .resizePty({ id: ids.id, exec_id: ids.execId ?? '', width: columns, height: rows })
      .catch(() => undefined);
  };
  if (terminal && process.stdout.isTTY) {
    resize();
    process.on('SIGWINCH', resize);
  }
  return {
    drained,
    finish() {
      outputs.forEach((socket, i) => {
        const path = paths[i];
        if (path === undefined || socket.destroyed) return;
        const out = i === 0 ? 1 : 2;
        // A second reader keeps the FIFO (and what it holds) alive while the stream goes.
        const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
        try {
          socket.unpipe();
          for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;)
            writeSync(out, chunk);
          socket.destroy();
          writeRest(fd, out);
        } finally {
          closeSync(fd);
        }
      });
    },
    detach() {
      process.off('SIGWINCH', resize);
      process.stdin.unpipe(stdin);
      if (raw) process.stdin.setRawMode(false);
      process.stdin.pause();
      stdin.destroy();
      for (const s of outputs) s.destroy();
    },
  };
}

/** Copies a non-blocking fd's readable bytes to `out` until it would block or ends. */
function writeRest(fd: number, out: number): void {
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
      throw err;
    }
    if (n === 0) return;
    writeSync(out, buf.subarray(0, n));
  }
}

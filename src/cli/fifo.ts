// The client ends of a task's stdio FIFOs. The shim opens its ends during Create without
// blocking (it keeps a reader of its own), so ours are opened after Create: an output FIFO opened
// before any writer would read EOF at once.
import { execFileSync } from 'node:child_process';
import {
  constants,
  createWriteStream,
  mkdtempSync,
  openSync,
  rmSync,
  type WriteStream,
} from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { O_RDONLY, O_RDWR, O_NONBLOCK } = constants;

export interface FifoSet {
  dir: string;
  stdin: string;
  stdout: string;
  stderr: string;
}

/** Makes stdin/stdout/stderr FIFOs in a new private directory (Node has no mkfifo). */
export function makeFifos(): FifoSet {
  const dir = mkdtempSync(join(tmpdir(), 'tsshim-io-'));
  const set = {
    dir,
    stdin: join(dir, 'stdin'),
    stdout: join(dir, 'stdout'),
    stderr: join(dir, 'stderr'),
  };
  execFileSync('mkfifo', ['-m', '0600', set.stdin, set.stdout, set.stderr]);
  return set;
}

export function removeFifos(set: FifoSet): void {
  rmSync(set.dir, { recursive: true, force: true });
}

/** Our reading end of an output FIFO: it ends when the shim closes its writer. */
export function openReader(path: string): Socket {
  const socket = new Socket({ fd: openSync(path, O_RDONLY | O_NONBLOCK), readable: true });
  socket.on('error', () => undefined);
  return socket;
}

/**
 * Our writing end of the stdin FIFO. Opened read-write so the open never fails or blocks; the
 * stream closes the fd when it finishes, and the shim then sees EOF (after CloseIO).
 */
export function openWriter(path: string): WriteStream {
  const stream = createWriteStream('', { fd: openSync(path, O_RDWR), autoClose: true });
  stream.on('error', () => undefined);
  return stream;
}

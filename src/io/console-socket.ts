// The socket runc sends a process's pty master over (`--console-socket`): a listening unix socket
// in a private temp dir, `<XDG_RUNTIME_DIR or tmpdir>/pty<random>/pty.sock` as in the reference.
// The socket and its dir live only until the master has arrived (or the attempt failed).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShimError, errorMessage } from '../base/errors.js';
import { native } from '../native/index.js';

/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export class ConsoleSocket {
  #fd: number;
  #closed = false;

  private constructor(
    readonly dir: string,
    readonly path: string,
    fd: number,
  ) {
    this.#fd = fd;
  }

  static create(): ConsoleSocket {
    const runtimeDir = process.env['XDG_RUNTIME_DIR'] ?? '';
    const dir = mkdtempSync(join(runtimeDir === '' ? tmpdir() : runtimeDir, 'pty'));
    const path = join(dir, 'pty.sock');
    let fd = -1;
    try {
      if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
        throw new ShimError('invalid-argument', `console socket path too long: ${path}`);
      }
      fd = native.listenUnix(path, 1);
      // As the reference: under a shared runtime dir the sticky bit keeps others from removing it.
      if (runtimeDir !== '') chmodSync(path, 0o1755);
      return new ConsoleSocket(dir, path, fd);
    } catch (err) {
      if (fd >= 0) native.closeFd(fd);
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * The pty master runc sent. Only called after runc returned, so the connection is already
   * queued and accept does not wait. The socket is gone afterwards, whatever happened.
   */
  receiveMaster(): number {
    try {
      return native.acceptRecvFd(this.#fd).fd;
    } catch (err) {
      throw new ShimError('unknown', `failed to retrieve console master: ${errorMessage(err)}`, {
        cause: err,
      });
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      native.closeFd(this.#fd);
    } catch {
      // already closed
    }
    this.#fd = -1;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

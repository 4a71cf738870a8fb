// A `binary://` logger (containerd's pkg/process NewBinaryIO): a process that reads the container's
// stdout on fd 3 and stderr on fd 4, and tells the shim it is ready by closing fd 5 (or writing a
// byte to it). Its env is only CONTAINER_ID and CONTAINER_NAMESPACE; its stdio is /dev/null.
// With a terminal there is no stderr: the reference's console copier gives the logger the pty
// output on fd 3 and the ready pipe on fd 4.
//
// The write ends of the two pipes stay with us until close, as in the reference: runc hands them to
// the container, and a console copier (terminal mode) can write the pty output into `stdoutFd`.
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { ShimError, errorMessage } from '../base/errors.js';
import { withTimeout } from '../base/deferred.js';
import { native } from '../native/index.js';
import { safeClose } from './fds.js';
import type { Exit } from '../reaper/exit.js';

/** What spawns the logger: the reaper Monitor (structurally), so its exit is reaped there. */
export interface LoggerSpawner {
  spawn(opts: { file: string; argv: string[]; env: string[]; fds: number[] }): {
    pid: number;
    exited: Promise<Exit>;
  };
}

export interface LoggerContext {
  /** The container id for an init, the exec id for an exec (as the reference passes it). */
  id: string;
  namespace: string;
  spawner: LoggerSpawner;
}

/** The reference waits this long after SIGTERM before it sends SIGKILL. */
export const LOGGER_TERM_TIMEOUT_MS = 12_000;

/** The kernel's PF_EXITING task flag (field 9 of /proc/<pid>/stat): set before fds are closed. */
const PF_EXITING = 0x4;

export class BinaryLogger {
  #exit: Exit | undefined;
  #closing: Promise<void> | undefined;
  #fdsOpen = true;
  #stdoutStream: Socket | undefined;

  private constructor(
    readonly pid: number,
    private readonly exited: Promise<Exit>,
    /** Write end of the logger's fd 3 pipe: the container's stdout. */
    readonly stdoutFd: number,
    /** Write end of the logger's fd 4 pipe: the container's stderr (-1 with a terminal). */
    readonly stderrFd: number,
  ) {
    void exited.then((exit) => {
      this.#exit = exit;
    });
  }

  /** Starts the logger and resolves once it is ready; on failure nothing is left open or alive. */
  static async start(
    path: string,
    args: string[],
    ctx: LoggerContext,
    layout: 'pipes' | 'terminal' = 'pipes',
  ): Promise<BinaryLogger> {
    const owned = new Set<number>();
    const pipe = (): [number, number] => {
      const [r, w] = native.pipe();
      owned.add(r).add(w);
      return [r, w];
    };
    const release = (fd: number): void => {
      owned.delete(fd);
      safeClose(fd);
    };
    let child: { pid: number; exited: Promise<Exit> } | undefined;
    try {
      const [outRead, outWrite] = pipe();
      const [errRead, errWrite] = layout === 'pipes' ? pipe() : [-1, -1];
      const [readyRead, readyWrite] = pipe();
      const extra = layout === 'pipes' ? [outRead, errRead, readyWrite] : [outRead, readyWrite];
      try {
        child = ctx.spawner.spawn({
          file: path,
          argv: [path, ...args],
          env: [`CONTAINER_ID=${ctx.id}`, `CONTAINER_NAMESPACE=${ctx.namespace}`],
          fds: [-1, -1, -1, ...extra],
        });
      } catch (err) {
        throw new ShimError(
          'unknown',
          `failed to start binary process: fork/exec ${path}: ${describe(err)}`,
          { cause: err },
        );
      }
      // The logger holds these now; our copy of the ready end would keep EOF from ever coming.
      for (const fd of extra) release(fd);
      owned.delete(readyRead);
      await waitReady(readyRead);
      await failIfExitedEarly(child, path);
      owned.delete(outWrite);
      owned.delete(errWrite);
      return new BinaryLogger(child.pid, child.exited, outWrite, errWrite);
    } catch (err) {
      for (const fd of owned) safeClose(fd);
      if (child) await killAndReap(child);
      throw err;
    }
  }

  /**
   * A stream on the stdout pipe, for a console copier (terminal mode: the container never gets
   * this fd, so making it non-blocking affects no one else). It owns the fd from now on; close()
   * destroys it if the copier has not ended it.
   */
  stdoutStream(): Socket {
    if (!this.#stdoutStream) {
      const stream = new Socket({ fd: this.stdoutFd, readable: false, writable: true });
      stream.on('error', () => undefined);
      this.#stdoutStream = stream;
    }
    return this.#stdoutStream;
  }

  /** Closes the pipes, then SIGTERM; SIGKILL if it is still alive after 12 s. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.stop();
    return this.#closing;
  }

  private async stop(): Promise<void> {
    if (this.#fdsOpen) {
      this.#fdsOpen = false;
      if (this.#stdoutStream) this.#stdoutStream.destroy();
      else safeClose(this.stdoutFd);
      if (this.stderrFd >= 0) safeClose(this.stderrFd);
    }
    if (this.#exit) return;
    if (!signal(this.pid, 'SIGTERM')) return;
    const exit = await withTimeout(this.exited, LOGGER_TERM_TIMEOUT_MS);
    // Like the reference, SIGKILL and move on: the Monitor reaps it.
    if (exit === undefined) signal(this.pid, 'SIGKILL');
  }
}

/** Resolves on the first byte or EOF of the ready pipe (the reference reads one byte). */
function waitReady(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let socket: Socket;
    try {
      socket = new Socket({ fd, readable: true, writable: false });
    } catch (err) {
      safeClose(fd);
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const done = (): void => {
      socket.destroy();
      resolve();
    };
    socket.once('data', done);
    socket.once('end', done);
    socket.once('close', done);
    socket.once('error', done);
  });
}

/**
 * EOF also comes when the logger dies before it is ready. The reference then goes on with a
 * logger that is gone (the container later dies of SIGPIPE); we fail Create/Exec instead when it
 * exited non-zero. PF_EXITING is set before the kernel closes its fds, so this is not a race.
 */
async function failIfExitedEarly(
  child: { pid: number; exited: Promise<Exit> },
  path: string,
): Promise<void> {
  if (!isExiting(child.pid)) return;
  const exit = await child.exited;
  if (exit.status !== 0) {
    throw new ShimError(
      'unknown',
      `logging binary ${path} exited with status ${exit.status} before it was ready`,
    );
  }
}

function isExiting(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const flags = Number(fields[6] ?? 0);
    return fields[0] === 'Z' || fields[0] === 'X' || (flags & PF_EXITING) !== 0;
  } catch {
    return true; // already reaped
  }
}

async function killAndReap(child: { pid: number; exited: Promise<Exit> }): Promise<void> {
  signal(child.pid, 'SIGKILL');
  // SIGKILL cannot be ignored; wait so no zombie and no half-started logger remain.
  await child.exited;
}

/** Sends a signal; false when the process is already gone (ESRCH) or cannot be signalled. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** "no such file or directory", as Go prints an errno (the reference's message). */
function describe(err: unknown): string {
  const m = /^E[A-Z0-9]+: ([^,]+),/.exec(errorMessage(err));
  return m?.[1] ? m[1].toLowerCase() : errorMessage(err);
}

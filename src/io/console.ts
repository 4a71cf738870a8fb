// A process's console (terminal = true): the pty master runc hands us, copied to and from
// containerd's FIFOs. stdin FIFO → master, master → stdout FIFO; stderr is unused (the pty
// merges both). The FIFO ends are opened as ProcessIO does (keep-alive reader for stdout,
// keep-alive writer for stdin, all O_NONBLOCK; see fds.ts).
//
// The master is not a stream Node can own: net.Socket refuses a TTY fd, and libuv's TTY handle
// writes to a master with blocking writes, which freezes the whole shim as soon as the container
// stops reading its input. So the master is non-blocking, watched with uv_poll (native
// FdWatcher), and read and written here with plain read(2)/write(2) that never block.
//
// Ends: EIO from the master (every slave fd closed; the kernel flushes pending output first) is
// EOF. On process exit the console is shut down: what the master still holds is read, stdout is
// ended, the master closed (as the reference's ShutdownConsole, but after draining). When the
// stdin copy ends (CloseIO, then the client closes its end) the reference closes the console too.
import { readSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Deferred, withTimeout } from '../base/deferred.js';
import { ShimError, errorCode } from '../base/errors.js';
import { native, POLL_READABLE, POLL_WRITABLE, type FdWatcher } from '../native/index.js';
import { BinaryLogger, type LoggerContext } from './binary-logger.js';
import { ConsoleSocket } from './console-socket.js';
import { fdStream, openOutputFifo, openStdinFifo, OwnedFds, safeClose } from './fds.js';
import { parseStdioTarget, type Stdio } from './stdio.js';
import { settle, unreadIn } from './settle.js';

const READ_CHUNK = 32 * 1024;
/** Reads per readiness callback, so one chatty console cannot starve the loop. */
const READS_PER_WAKEUP = 16;
/** Bound on the final drain at shutdown (a process outside ours may keep writing to the pty). */
const SHUTDOWN_DRAIN_BYTES = 4 * 1024 * 1024;

/** A console across a live upgrade: fd numbers (inherited) and input not yet written. */
export interface ConsoleHandover {
  kind: 'console';
  /** -1 once shut down (the process exited). */
  master: number;
  owned: number[];
  stdinKeepAlive: number;
  stdinReader: number;
  outFd: number;
  /** Input read from the FIFO and not yet taken by the master. */
  pending: string;
  stdinEnded: boolean;
  hungUp: boolean;
  /** The stdout FIFO's keep-alive reader, or -1 (absent from versions before exits settled). */
  outKeepAlive?: number;
}

/** The fd under a net.Socket (libuv keeps it as is), or -1. */
function socketFd(socket: Socket | undefined): number {
  const inner = (socket as unknown as { _handle?: { fd?: number } | null } | undefined)?._handle;
  return typeof inner?.fd === 'number' ? inner.fd : -1;
}

export class Console {
  #master: number;
  #watcher: FdWatcher | undefined;
  /** fds we close at the end: keep-alive ends. */
  readonly #fds = new OwnedFds();
  #stdin: Socket | undefined;
  #stdinKeepAlive = -1;
  #stdinEnded = false;
  /** stdin bytes the master did not take yet (its input queue was full). */
  #pending: Buffer[] = [];
  #out: Socket | undefined;
  /** The stdout FIFO's keep-alive reader: through it, what the client has not read yet. */
  #outKeepAlive = -1;
  /** binary:// mode: the logger that reads the pty output (it owns `#out`). */
  #logger: BinaryLogger | undefined;
  #outBlocked = false;
  #reading = true;
  /** The slave side is gone (EIO/EOF): input has nowhere to go any more. */
  #hungUp = false;
  readonly #outputDone = new Deferred<void>();
  /** Bytes read from the master and handed to stdout (some may still be in its buffer). */
  #queued = 0;
  #shutDown = false;
  #closed = false;
  /** Held still for a live upgrade. */
  #quiesced = false;
  readonly #buf = Buffer.allocUnsafe(READ_CHUNK);

  private constructor(master: number) {
    this.#master = master;
  }

  /**
   * Runs `runcCall` with a fresh console socket, receives the master it sent and starts copying.
   * The socket, its temp dir and (on failure) the master are released on every path.
   */
  static async receive(
    stdio: Stdio,
    runcCall: (socketPath: string) => Promise<void>,
    logger?: LoggerContext,
  ): Promise<Console> {
    const target = parseStdioTarget(stdio);
    // As the reference: a console copies to FIFOs or to a binary logger, not to a file.
    if (target.kind === 'file') throw new ShimError('not-implemented', 'terminal with file stdio');
    if (target.kind === 'binary' && !logger) {
      throw new Error('binary:// logging needs the container id and namespace');
    }
    const socket = ConsoleSocket.create();
    let master: number;
    try {
      await runcCall(socket.path);
      master = socket.receiveMaster();
    } finally {
      socket.close();
    }
    const cons = new Console(master);
    try {
      if (target.kind === 'binary' && logger) {
        // Started once the master is here, as the reference's console copier does.
        cons.#logger = await BinaryLogger.start(target.path, target.args, logger, 'terminal');
        cons.#out = cons.#logger.stdoutStream();
        cons.watchOutputEnd();
      }
      await cons.setup(stdio, target.kind === 'fifo');
    } catch (err) {
      await cons.closeAndWait();
      throw err;
    }
    return cons;
  }

  /** Why this console cannot cross a live upgrade, or undefined if it can. */
  handoverRefusal(): string | undefined {
    return this.#logger ? 'binary:// logging of a terminal' : undefined;
  }

  /** Live upgrade: stops reading master and stdin; true once all output read has been written. */
  quiesce(): boolean {
    this.#quiesced = true;
    this.#stdin?.pause();
    this.updatePoll();
    return this.#shutDown || (this.#out?.writableLength ?? 0) === 0;
  }

  unquiesce(): void {
    this.#quiesced = false;
    if (this.#shutDown) return;
    if (this.#pending.length === 0) this.#stdin?.resume();
    this.updatePoll();
  }

  /** The fds to inherit and the state; `final` stops copying for good, else it only describes. */
  handover(final: boolean): ConsoleHandover {
    if (final) {
      this.#watcher?.close();
      this.#watcher = undefined;
    }
    const pending = [...this.#pending];
    const stdin = this.#stdin;
    if (final && stdin && !stdin.destroyed) {
      const handle = (stdin as unknown as { _handle?: { readStop?: () => number } })._handle;
      handle?.readStop?.();
      for (let chunk: unknown; (chunk = stdin.read()) !== null;) {
        if (Buffer.isBuffer(chunk)) pending.push(chunk);
      }
    }
    const live = !this.#shutDown;
    return {
      kind: 'console',
      master: live ? this.#master : -1,
      owned: this.#fds.list(),
      stdinKeepAlive: this.#stdinKeepAlive,
      stdinReader: live && stdin && !stdin.destroyed ? socketFd(stdin) : -1,
      outFd: live && this.#reading && this.#out && !this.#out.destroyed ? socketFd(this.#out) : -1,
      pending: Buffer.concat(pending).toString('base64'),
      stdinEnded: this.#stdinEnded,
      hungUp: this.#hungUp,
      outKeepAlive: this.#outKeepAlive,
    };
  }

  /** The console a previous process image handed over, copying again where it stopped. */
  static adopt(state: ConsoleHandover): Console {
    const cons = new Console(state.master);
    for (const fd of state.owned) cons.#fds.add(fd);
    cons.#stdinKeepAlive = state.stdinKeepAlive;
    cons.#outKeepAlive = state.outKeepAlive ?? -1;
    if (state.master < 0) {
      // Shut down before the upgrade: nothing left to copy.
      cons.#shutDown = true;
      cons.#reading = false;
      cons.#outputDone.resolve();
      return cons;
    }
    cons.#hungUp = state.hungUp;
    cons.#stdinEnded = state.stdinEnded;
    const pending = Buffer.from(state.pending, 'base64');
    if (pending.length > 0) cons.#pending.push(pending);
    if (state.stdinReader >= 0) cons.#stdin = fdStream(state.stdinReader, 'read');
    if (state.outFd >= 0) {
      cons.#out = fdStream(state.outFd, 'write');
      cons.watchOutputEnd();
    } else {
      cons.#reading = !state.hungUp;
    }
    if (state.hungUp) {
      cons.#reading = false;
      cons.#out?.end();
    }
    cons.startCopying();
    return cons;
  }

  private watchOutputEnd(): void {
    this.#out?.once('close', () => {
      this.#outputDone.resolve();
    });
  }

  private async setup(stdio: Stdio, fifos: boolean): Promise<void> {
    native.setNonBlocking(this.#master, true);
    if (fifos && stdio.stdin !== '') {
      const { reader, keepAlive } = openStdinFifo(stdio.stdin, this.#fds);
      this.#stdin = fdStream(this.#fds.release(reader), 'read');
      this.#stdinKeepAlive = keepAlive;
    }
    if (fifos && stdio.stdout !== '') {
      const { writer, keepAlive } = await openOutputFifo(stdio.stdout, this.#fds);
      this.#out = fdStream(this.#fds.release(writer), 'write');
      this.#outKeepAlive = keepAlive;
      this.watchOutputEnd();
    }
    this.startCopying();
  }

  private startCopying(): void {
    this.#watcher = new native.FdWatcher(this.#master, (status, events) => {
      this.onReady(status, events);
    });
    this.#stdin?.on('data', (chunk: Buffer) => {
      if (this.#hungUp) return;
      this.#pending.push(chunk);
      this.flushInput();
    });
    // The stdin copy ends only at EOF: CloseIO dropped the keep-alive writer, the client closed.
    const stdinEnded = (): void => {
      this.#stdinEnded = true;
      if (this.#pending.length === 0) this.shutdown();
    };
    this.#stdin?.once('end', stdinEnded);
    this.#stdin?.once('error', stdinEnded);
    this.updatePoll();
  }

  get isShutDown(): boolean {
    return this.#shutDown;
  }

  private updatePoll(): void {
    if (!this.#watcher) return;
    const events = this.#quiesced
      ? 0
      : (this.#reading && !this.#outBlocked ? POLL_READABLE : 0) |
        (this.#pending.length > 0 ? POLL_WRITABLE : 0);
    this.#watcher.start(events);
  }

  private onReady(status: number, events: number): void {
    if (this.#shutDown) return;
    if (status < 0) {
      // POLLERR: the master is unusable; what was read has been passed on.
      this.#pending = [];
      this.endOutput();
      this.updatePoll();
      return;
    }
    if ((events & POLL_WRITABLE) !== 0) this.flushInput();
    if ((events & POLL_READABLE) !== 0) this.readOutput(READS_PER_WAKEUP, false);
    this.updatePoll();
  }

  /**
   * Reads what the master holds, up to `maxReads` chunks, and passes it to stdout. Stops at
   * EAGAIN, at EOF/EIO (ending stdout), or, unless draining, when stdout pushes back.
   */
  private readOutput(maxReads: number, draining: boolean): void {
    for (let i = 0; i < maxReads && this.#reading; i++) {
      let n: number;
      try {
        n = readSync(this.#master, this.#buf, 0, READ_CHUNK, null);
      } catch (err) {
        if (errorCode(err) === 'EAGAIN') return;
        // EIO: the slave side is closed and everything it wrote has been read.
        this.hangUp();
        return;
      }
      if (n === 0) {
        this.hangUp();
        return;
      }
      if (!this.#out) continue; // no stdout: discard, but keep the pty flowing
      this.#queued += n;
      const more = this.#out.write(Buffer.from(this.#buf.subarray(0, n)));
      if (!more && !draining) {
        this.#outBlocked = true;
        this.#out.once('drain', () => {
          this.#outBlocked = false;
          this.updatePoll();
        });
        return;
      }
    }
  }

  /**
   * Drops pending input too: a hung-up master reports POLLHUP (hence "writable") while refusing
   * writes, which would otherwise spin.
   */
  private hangUp(): void {
    this.#hungUp = true;
    this.#pending = [];
    this.endOutput();
  }

  private endOutput(): void {
    if (!this.#reading) return;
    this.#reading = false;
    if (this.#out) this.#out.end();
    else this.#outputDone.resolve();
  }

  /** Writes pending stdin bytes until the master's input queue is full. */
  private flushInput(): void {
    while (this.#pending.length > 0 && !this.#shutDown) {
      const chunk = this.#pending[0];
      if (!chunk) break;
      let n: number;
      try {
        n = writeSync(this.#master, chunk);
      } catch (err) {
        if (errorCode(err) === 'EAGAIN') break;
        this.#pending = []; // the console is gone: the input has nowhere to go
        break;
      }
      if (n >= chunk.length) this.#pending.shift();
      else this.#pending[0] = chunk.subarray(n);
    }
    // Back-pressure: stop reading the FIFO while the master is full.
    if (this.#pending.length > 0) this.#stdin?.pause();
    else if (this.#stdinEnded) this.shutdown();
    else if (!this.#quiesced) this.#stdin?.resume();
    this.updatePoll();
  }

  /** Sets the pty window size; a console already shut down has nothing to resize. */
  resize(rows: number, cols: number): void {
    if (this.#shutDown || this.#master < 0) return;
    native.setWinsize(this.#master, rows, cols);
  }

  /**
   * Process exit (or end of stdin): reads what the master still holds (a non-blocking read
   * first flushes the kernel's pending tty buffer, so nothing written before the exit is lost),
   * ends stdout and closes the master.
   */
  shutdown(): void {
    if (this.#shutDown) return;
    this.#shutDown = true;
    if (this.#master >= 0) {
      this.readOutput(Math.ceil(SHUTDOWN_DRAIN_BYTES / READ_CHUNK), true);
    }
    this.endOutput();
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#pending = [];
    this.#stdin?.destroy();
    this.#stdin = undefined;
    if (this.#master >= 0) safeClose(this.#master);
    this.#master = -1;
  }

  /** CloseIO: drop the keep-alive writer so stdin reaches EOF when the client closes too. */
  closeStdin(): void {
    if (this.#stdinKeepAlive >= 0) this.#fds.close(this.#stdinKeepAlive);
    this.#stdinKeepAlive = -1;
  }

  /**
   * Waits until everything read from the master has been written to stdout, however long that
   * takes while bytes move; gives up only once `quietMs` pass with none written (a client that
   * stopped reading). As ProcessIO.drain: the last check comes after one pass through I/O, so a
   * shim starved past the timer still writes what it can first.
   */
  async drain(quietMs: number): Promise<void> {
    const done = this.#outputDone.promise.then(() => true);
    let moved = this.written();
    for (;;) {
      if ((await withTimeout(done, quietMs)) === true) return;
      await new Promise((resolve) => setImmediate(resolve));
      const now = this.written();
      if (now === moved) return;
      moved = now;
    }
  }

  /**
   * At the process's exit: shuts the console down (reading what the master holds), then resolves
   * once the client has read it all (settle.ts), or once that stops moving.
   */
  settle(): Promise<void> {
    this.shutdown();
    return settle({
      pending: () => unreadIn([this.#outKeepAlive]) + (this.#out?.writableLength ?? 0),
    });
  }

  /** Bytes stdout has taken from its buffer so far. */
  private written(): number {
    return this.#queued - (this.#out?.writableLength ?? 0);
  }

  /** Closes, then waits for a binary:// logger to exit (as ProcessIO's). */
  async closeAndWait(): Promise<void> {
    this.close();
    await this.#logger?.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.shutdown();
    if (this.#logger) void this.#logger.close();
    else this.#out?.destroy();
    this.#fds.closeAll();
    this.#stdinKeepAlive = -1;
  }
}

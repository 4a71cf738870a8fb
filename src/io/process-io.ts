// Stdio plumbing between a container process and containerd's FIFOs (or a log file).
//
// The container never sees the FIFOs: it gets anonymous pipes, and the shim copies between the pipes
// and the FIFOs. For every stdout/stderr FIFO the shim also holds a never-read "keep-alive" reader,
// so the container does not get SIGPIPE while containerd restarts; for stdin it holds a keep-alive
// writer, so the copy does not see EOF when a client goes away (CloseIO closes it). All FIFO opens
// are O_NONBLOCK (fds.ts), so no libuv thread is ever parked.
// `file://` copies both streams into one appended file; `binary://` hands the pipes to a logger
// process instead (binary-logger.ts) and copies nothing.
import { constants, createWriteStream, mkdirSync, openSync, fchownSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { dirname } from 'node:path';
import { Socket } from 'node:net';
import { native } from '../native/index.js';
import type { StdioFds } from '../runtime/runc.js';
import { parseStdioTarget, type Stdio } from './stdio.js';
import { withTimeout } from '../base/deferred.js';
import { BinaryLogger, type LoggerContext } from './binary-logger.js';
import { fdStream, openOutputFifo, openStdinFifo, OwnedFds, safeClose } from './fds.js';
import { SpliceCopy } from './splice-copy.js';
import { settle, unreadIn } from './settle.js';

// Node opens every file with O_CLOEXEC already.
const { O_WRONLY, O_APPEND, O_CREAT } = constants;

/** Where a container output goes: our FIFO writer fd, or a stream (file://, or a fallback). */
interface Sink {
  fd: number;
  stream?: Writable;
  /** Copies still writing into it. */
  users: number;
}

/**
 * Pipe plumbing across a live upgrade: fd numbers (inherited by the next process image) and what
 * was read and not yet written. Only FIFO or null stdio; file:// and binary:// refuse.
 */
export interface PipesHandover {
  kind: 'pipes';
  stdio: Stdio;
  /** fds this object closes at the end: keep-alive ends, FIFO writers, pipe read ends. */
  owned: number[];
  stdinKeepAlive: number;
  /** The stdin copy, if running: FIFO reader → the container's pipe, bytes read not written. */
  stdin: { reader: number; pipe: number; unread: string } | undefined;
  /** Running output copies (pipe → FIFO); copies into one FIFO share its fd. */
  outputs: { src: number; sink: number }[];
  /** The output FIFOs' keep-alive readers (absent from versions before exits settled). */
  outputKeepAlives?: number[];
}

export interface IoOwner {
  uid: number;
  gid: number;
}

export class ProcessIO {
  /** Container-side fds, handed to runc and closed by us once runc has started the process. */
  #childFds: number[] = [-1, -1, -1];
  /** fds we own and close at the end (keep-alive ends, FIFO ends not wrapped in a stream). */
  readonly #fds = new OwnedFds();
  #streams: (Socket | Writable)[] = [];
  /** Running splice copies: stopped before their fds are closed. */
  readonly #splices = new Set<SpliceCopy>();
  /** Output copies (container → FIFO/file); Delete waits for them. stdin is not waited for. */
  #outputCopies: Promise<void>[] = [];
  /** Bytes moved by the stream copies and by the splice copies that have ended. */
  #movedBefore = 0;
  #stdinKeepAlive = -1;
  /** Copies wired but not running until the runtime has started the process (see started()). */
  #pendingCopies: (() => void)[] = [];
  /** binary:// mode: the logger process and the pipe write ends it reads from. */
  #logger: BinaryLogger | undefined;
  #closed = false;
  /** The stdin copy's streams and fds (FIFO reader → container pipe). */
  #stdinCopy: { src: Socket; dst: Socket; reader: number; pipe: number } | undefined;
  /** Output copies that fell back to a stream copy: not handed over. */
  #streamOutputs = 0;
  /** Sinks of running splice copies, by splice. */
  readonly #spliceSinks = new Map<SpliceCopy, Sink>();
  /** Keep-alive readers of the output FIFOs: through them, what the client has not read yet. */
  #outputKeepAlives: number[] = [];
  /** Read ends of the output pipes whose copy still runs. */
  readonly #liveSources = new Set<number>();
  /** Node-side buffers of running stream copies (fallback or file://). */
  readonly #streamCopies = new Set<{ source: Socket; sink: Writable }>();

  private constructor(readonly stdio: Stdio) {}

  /** Why this plumbing cannot cross a live upgrade, or undefined if it can. */
  handoverRefusal(): string | undefined {
    if (this.#logger) return 'binary:// logging';
    const kind = parseStdioTarget(this.stdio).kind;
    if (kind === 'file') return 'file:// stdio';
    if (this.#pendingCopies.length > 0) return 'stdio not started';
    if (this.#streamOutputs > 0) return 'an output copied without splice';
    return undefined;
  }

  /** Live upgrade: stops taking stdin into Node; true once what was taken has been written. */
  quiesce(): boolean {
    const copy = this.#stdinCopy;
    if (!copy) return true;
    copy.src.unpipe(copy.dst);
    copy.src.pause();
    return copy.dst.writableLength === 0;
  }

  /** The upgrade was called off: copy stdin again. */
  unquiesce(): void {
    const copy = this.#stdinCopy;
    if (copy && !copy.src.destroyed) {
      copy.src.pipe(copy.dst, { end: false });
      copy.src.resume();
    }
  }

  /**
   * While quiesced: the fds to inherit and the state. `final` stops the copies for good (nothing
   * runs in this image afterwards); otherwise it only describes.
   */
  handover(final: boolean): PipesHandover {
    const outputs = [...this.#spliceSinks].map(([splice, sink]) => ({
      src: splice.src,
      sink: sink.fd,
    }));
    if (final) for (const splice of this.#splices) splice.stop();
    let stdin: PipesHandover['stdin'];
    const copy = this.#stdinCopy;
    if (copy && !copy.src.destroyed && !copy.dst.destroyed) {
      const unread: Buffer[] = [];
      if (final) {
        const handle = (copy.src as unknown as { _handle?: { readStop?: () => number } })._handle;
        handle?.readStop?.();
      }
      for (let chunk: unknown; final && (chunk = copy.src.read()) !== null;) {
        if (Buffer.isBuffer(chunk)) unread.push(chunk);
      }
      stdin = {
        reader: copy.reader,
        pipe: copy.pipe,
        unread: Buffer.concat(unread).toString('base64'),
      };
    }
    return {
      kind: 'pipes',
      stdio: this.stdio,
      owned: this.#fds.list(),
      stdinKeepAlive: this.#stdinKeepAlive,
      stdin,
      outputs,
      outputKeepAlives: this.#outputKeepAlives,
    };
  }

  /** The plumbing a previous process image handed over, copying again where it stopped. */
  static adopt(state: PipesHandover): ProcessIO {
    const io = new ProcessIO(state.stdio);
    for (const fd of state.owned) io.#fds.add(fd);
    io.#stdinKeepAlive = state.stdinKeepAlive;
    io.#outputKeepAlives = state.outputKeepAlives ?? [];
    if (state.stdin) {
      const src = io.stream(state.stdin.reader, 'read');
      const dst = io.stream(state.stdin.pipe, 'write');
      dst.on('error', () => src.destroy());
      const unread = Buffer.from(state.stdin.unread, 'base64');
      if (unread.length > 0) dst.write(unread);
      io.#stdinCopy = { src, dst, reader: state.stdin.reader, pipe: state.stdin.pipe };
      void copy(src, dst);
    }
    const sinks = new Map<number, Sink>();
    for (const { sink } of state.outputs) {
      const existing = sinks.get(sink);
      if (existing) existing.users++;
      else sinks.set(sink, { fd: sink, users: 1 });
    }
    for (const { src, sink } of state.outputs) {
      const target = sinks.get(sink);
      if (target) io.#outputCopies.push(io.copyOutput(src, target));
    }
    return io;
  }

  /**
   * Opens the FIFOs/file and the pipes for a process, or starts its binary:// logger and waits
   * until it is ready (`logger` names the process to it); on failure releases everything.
   */
  static async open(stdio: Stdio, owner?: IoOwner, logger?: LoggerContext): Promise<ProcessIO> {
    const io = new ProcessIO(stdio);
    try {
      const target = parseStdioTarget(stdio);
      if (target.kind === 'binary') {
        if (!logger) throw new Error('binary:// logging needs the container id and namespace');
        // No stdin in this mode: the reference connects none (the container gets /dev/null).
        io.#logger = await BinaryLogger.start(target.path, target.args, logger);
      } else await io.setup(owner);
    } catch (err) {
      io.close();
      throw err;
    }
    return io;
  }

  get childFds(): StdioFds {
    if (this.#logger) return [-1, this.#logger.stdoutFd, this.#logger.stderrFd];
    return [this.#childFds[0] ?? -1, this.#childFds[1] ?? -1, this.#childFds[2] ?? -1];
  }

  /** binary:// mode: the logger; a console copier writes into `logger.stdoutStream()`. */
  get logger(): BinaryLogger | undefined {
    return this.#logger;
  }

  private async setup(owner: IoOwner | undefined): Promise<void> {
    const target = parseStdioTarget(this.stdio);
    switch (target.kind) {
      case 'null':
        return;
      case 'fifo':
        if (this.stdio.stdin !== '') this.setupStdin(this.stdio.stdin, owner);
        await this.setupOutputs(async (path) => {
          const { writer, keepAlive } = await openOutputFifo(path, this.#fds);
          this.#outputKeepAlives.push(keepAlive);
          return writer;
        }, owner);
        return;
      case 'file': {
        mkdirSync(dirname(target.path), { recursive: true, mode: 0o755 });
        if (this.stdio.stdin !== '') this.setupStdin(this.stdio.stdin, owner);
        // stdout and stderr both go to the one file, appended.
        const fd = this.#fds.add(openSync(target.path, O_WRONLY | O_APPEND | O_CREAT, 0o644));
        await this.setupOutputs(() => Promise.resolve(fd), owner, this.fileStream(fd));
        return;
      }
      case 'binary':
        return; // started in open()
    }
  }

  private setupStdin(path: string, owner: IoOwner | undefined): void {
    const { reader, keepAlive } = openStdinFifo(path, this.#fds);
    this.#stdinKeepAlive = keepAlive;
    const [pipeRead, pipeWrite] = native.pipe();
    this.#childFds[0] = pipeRead;
    this.chown(pipeRead, owner);
    const src = this.stream(this.#fds.release(reader), 'read');
    const dst = this.stream(pipeWrite, 'write');
    // The container's stdin may close early; its EPIPE is not our error.
    dst.on('error', () => src.destroy());
    this.#stdinCopy = { src, dst, reader, pipe: pipeWrite };
    this.#pendingCopies.push(() => void copy(src, dst));
  }

  private async setupOutputs(
    openWriter: (path: string) => Promise<number>,
    owner: IoOwner | undefined,
    /** file:// mode: the one stream on the log file (a net.Socket cannot wrap a regular file). */
    sharedFile?: Writable,
  ): Promise<void> {
    const { stdout, stderr } = this.stdio;
    const outputs: [1 | 2, string][] = [
      [1, stdout],
      [2, stderr],
    ];
    // file:// logs both streams even if one path is empty (the reference sets both to the file).
    const wanted = outputs.filter(
      ([fd, path]) => (path !== '' || sharedFile) && !(fd === 2 && this.stdio.terminal),
    );
    const keyOf = (path: string): string => (sharedFile ? 'file' : path);
    // Each distinct writer once; both opened together, so waiting for readers is not doubled.
    const keys = [...new Set(wanted.map(([, path]) => keyOf(path)))];
    const opened = await Promise.all(
      keys.map(async (key) => {
        const path = wanted.find(([, p]) => keyOf(p) === key)?.[1] ?? '';
        return [key, await openWriter(path)] as const;
      }),
    );
    const writers = new Map<string, number>(opened);
    const targets = wanted.map(([fd, path]) => ({ fd, writerFd: writers.get(keyOf(path)) ?? -1 }));
    // One destination per distinct writer; with stdout == stderr it ends after both copies.
    const sinks = new Map<number, Sink>();
    for (const { writerFd } of targets) {
      const sink = sinks.get(writerFd);
      if (sink) sink.users++;
      else if (sharedFile) {
        this.#fds.release(writerFd);
        sinks.set(writerFd, { fd: writerFd, stream: sharedFile, users: 1 });
      } else sinks.set(writerFd, { fd: writerFd, users: 1 });
    }
    for (const { fd, writerFd } of targets) {
      const [pipeRead, pipeWrite] = native.pipe();
      this.#childFds[fd] = pipeWrite;
      this.chown(pipeWrite, owner);
      const sink = sinks.get(writerFd);
      if (!sink) continue;
      this.#fds.add(pipeRead);
      this.#pendingCopies.push(() => {
        this.#outputCopies.push(this.copyOutput(pipeRead, sink));
      });
    }
  }

  /**
   * Container output into its FIFO with splice (zero-copy), or with a stream copy where the
   * kernel cannot splice (a file:// destination, or EINVAL); the sink ends after its last copy.
   */
  private async copyOutput(src: number, sink: Sink): Promise<void> {
    this.#liveSources.add(src);
    try {
      await this.copyOutputFrom(src, sink);
    } finally {
      this.#liveSources.delete(src);
    }
  }

  private async copyOutputFrom(src: number, sink: Sink): Promise<void> {
    let spliced = false;
    if (sink.stream === undefined) {
      const splice = new SpliceCopy(src, sink.fd);
      this.#splices.add(splice);
      this.#spliceSinks.set(splice, sink);
      // A refused splice leaves the rest in the pipe: the stream copy takes it from there.
      const end = await splice.done;
      spliced = end !== 'fallback';
      this.#splices.delete(splice);
      this.#movedBefore += splice.moved;
      this.#spliceSinks.delete(splice);
      // Stopped for a handover: the fds stay as they are, for the next process image.
      if (end === 'stopped') return;
    }
    if (!spliced) this.#streamOutputs++;
    if (spliced) this.#fds.close(src);
    else {
      if (sink.stream === undefined) sink.stream = this.stream(this.#fds.release(sink.fd), 'write');
      const source = this.stream(this.#fds.release(src), 'read');
      source.on('data', (chunk: Buffer) => {
        this.#movedBefore += chunk.length;
      });
      const running = { source, sink: sink.stream };
      this.#streamCopies.add(running);
      await copy(source, sink.stream, false);
      this.#streamCopies.delete(running);
    }
    if (--sink.users > 0) return;
    if (sink.stream) sink.stream.end();
    else this.#fds.close(sink.fd);
  }

  private chown(fd: number, owner: IoOwner | undefined): void {
    if (owner && (owner.uid !== 0 || owner.gid !== 0)) fchownSync(fd, owner.uid, owner.gid);
  }

  /** A write stream on a regular file; it owns (and closes) the fd once created. */
  private fileStream(fd: number): Writable {
    this.#fds.release(fd);
    const stream = createWriteStream('', { fd, autoClose: true });
    stream.on('error', () => undefined);
    this.#streams.push(stream);
    return stream;
  }

  private stream(fd: number, mode: 'read' | 'write'): Socket {
    const socket = fdStream(fd, mode);
    this.#streams.push(socket);
    return socket;
  }

  /**
   * The runtime has created the process: close our copies of its pipe ends and start copying.
   * Not before: when runc fails it writes its error to the stderr it was given, the container's,
   * and (as with the reference) that must not reach the user's stderr as container output.
   */
  started(): void {
    this.closeChildEnds();
    for (const start of this.#pendingCopies.splice(0)) start();
  }

  private closeChildEnds(): void {
    for (const fd of this.#childFds) if (fd >= 0) safeClose(fd);
    this.#childFds = [-1, -1, -1];
  }

  /** CloseIO: drop the keep-alive writer so stdin reaches EOF when the client closes too. */
  closeStdin(): void {
    if (this.#stdinKeepAlive >= 0) this.#fds.close(this.#stdinKeepAlive);
    this.#stdinKeepAlive = -1;
  }

  /**
   * Waits until every output copy has read its pipe to the end (EOF: every writer gone), however
   * long that takes while bytes keep moving. Called once the process has exited, so the wait
   * ends without EOF only in two cases that would otherwise hang Delete: a leftover process that
   * inherited the pipe keeps it open, or the client stopped reading. So it ends when `quietMs`
   * pass with no byte moved and a last try, made at once, moves none either: after a stall of
   * the shim, timers run before readiness is polled, and without that try a copy with bytes
   * waiting would be given up. In the first case everything the process wrote has been copied
   * (its pipe is empty); in the second the rest is lost, as with the reference's limit.
   */
  async drain(quietMs: number): Promise<void> {
    const done = Promise.all(this.#outputCopies).then(() => true);
    let moved = this.moved();
    for (;;) {
      if ((await withTimeout(done, quietMs)) === true) return;
      // Stream copies (file://, fallback) move in the poll phase: let it run once. Splice copies
      // run on threads of their own, whatever the loop does.
      await new Promise((resolve) => setImmediate(resolve));
      const now = this.moved();
      if (now === moved) return;
      moved = now;
    }
  }

  /**
   * At the process's exit: resolves once its client has read what it wrote (settle.ts), that is
   * nothing is left in the pipes, in our buffers or in the FIFOs, or once that stops moving.
   */
  settle(): Promise<void> {
    return settle({
      pending: () => {
        let n = unreadIn([...this.#liveSources, ...this.#outputKeepAlives]);
        const sinks = new Set<Writable>();
        for (const { source, sink } of this.#streamCopies) {
          n += source.readableLength;
          sinks.add(sink);
        }
        for (const sink of sinks) n += sink.writableLength;
        return n;
      },
    });
  }

  /** Bytes all output copies have moved so far. */
  private moved(): number {
    let n = this.#movedBefore;
    for (const splice of this.#splices) n += splice.moved;
    return n;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pendingCopies = [];
    this.closeChildEnds();
    for (const splice of this.#splices) splice.stop();
    this.#splices.clear();
    for (const s of this.#streams) s.destroy();
    this.#fds.closeAll();
    this.#stdinKeepAlive = -1;
    // Runs on its own (SIGTERM, then SIGKILL after 12 s); closeAndWait awaits it.
    void this.#logger?.close();
  }

  /** close(), then waits until a binary:// logger has exited (as the reference's Delete does). */
  async closeAndWait(): Promise<void> {
    this.close();
    await this.#logger?.close();
  }
}

/** Pipes src into dst with backpressure; resolves when src ends or either side fails. */
function copy(src: Socket, dst: Writable, endDst = true): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      src.unpipe(dst);
      if (endDst) dst.end();
      resolve();
    };
    src.once('end', done);
    src.once('close', done);
    src.once('error', done);
    src.pipe(dst, { end: false });
  });
}

// ttrpc server: one read loop per connection, every request handled concurrently, replies
// written whole (one socket write per frame) in completion order, matched by stream id.
// The server never drops a healthy peer: only the peer's EOF/error, shutdown() or close() end a
// connection (containerd treats a closed Task connection as a dead shim).
import net from 'node:net';
import { toNumber } from '../base/proto-util.js';
import { ttrpc } from '../gen/ttrpc.js';
import { FrameDecoder } from './decoder.js';
import { MAX_MESSAGE_LENGTH, MessageType, encodeFrame, oversizeMessage } from './frame.js';
import { metadataFromList, type Metadata } from './metadata.js';
import { ClosedError, Code, TtrpcError, toStatus, type Status } from './status.js';

export interface CallContext {
  readonly service: string;
  readonly method: string;
  readonly metadata: Metadata;
  /** Aborted when the request's timeout_nano elapses or the connection goes away. */
  readonly signal: AbortSignal;
}

/** A unary method: request payload in, response payload out; throw TtrpcError for a status. */
export type Handler = (payload: Uint8Array, ctx: CallContext) => Promise<Uint8Array>;

export interface ServerOptions {
  /** Decides whether to serve a freshly accepted socket (e.g. a peer-credential check). */
  connectionFilter?: (socket: net.Socket) => boolean;
  /** Connections open at once; one more is closed at accept (default: no bound). */
  maxConnections?: number;
  /** Told why a connection was closed at accept (the bound), for the owner to log. */
  onRefused?: (reason: string) => void;
  /** Told about failures that have no caller to report to (listener errors, a throwing filter). */
  onError?: (err: unknown) => void;
}

export type ListenTarget = string | { fd: number };

// setTimeout cannot wait longer; a longer deadline is as good as none.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Keeps an error response under the frame limit whatever a handler put in its message.
const MAX_ERROR_MESSAGE_CHARS = 1 << 20;
// How long a forced close lets already written replies drain before destroying the socket.
const CLOSE_DRAIN_MS = 1000;

const EVEN_STREAM_ID = 'StreamID must be odd for client initiated streams';
const STREAM_ID_REUSED = 'StreamID cannot be re-used and must increment';
const MARSHAL_NIL = 'ttrpc: marshal called with nil';

const deadlineExceeded = (): TtrpcError =>
  new TtrpcError(Code.DeadlineExceeded, 'context deadline exceeded');

/**
 * A request's cancellation, made only if its handler asks for the signal: most handlers never
 * do, and an AbortController and a timer per request were a tenth of a State call's CPU. The
 * deadline is absolute, so a signal asked for late still aborts when the request's time is up.
 */
class Cancellation {
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reason: Error | undefined;

  /** `deadline`: ms since the epoch, or undefined for none. */
  constructor(private readonly deadline: number | undefined) {}

  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = new AbortController();
    this.#controller = controller;
    if (this.#reason) controller.abort(this.#reason);
    else if (this.deadline !== undefined) {
      const remaining = this.deadline - Date.now();
      if (remaining <= 0) this.abort(deadlineExceeded());
      else {
        this.#timer = setTimeout(() => {
          this.abort(deadlineExceeded());
        }, remaining);
        this.#timer.unref();
      }
    }
    return controller.signal;
  }

  abort(reason: Error): void {
    this.#reason ??= reason;
    clearTimeout(this.#timer);
    this.#controller?.abort(reason);
  }

  /** The request is answered: nothing may fire any more. */
  dispose(): void {
    clearTimeout(this.#timer);
  }
}

export class Server {
  readonly #services = new Map<string, Map<string, Handler>>();
  readonly #listeners = new Set<net.Server>();
  readonly #connections = new Set<Connection>();
  readonly #options: ServerOptions;
  #inflight = 0;
  #idleWaiters: (() => void)[] = [];
  #shutdown: Promise<void> | undefined;
  #close: Promise<void> | undefined;
  #held = false;

  constructor(options: ServerOptions = {}) {
    this.#options = options;
  }

  /** Adds (or replaces) methods of a fully qualified service name, e.g. `containerd.task.v2.Task`. */
  register(service: string, methods: Readonly<Record<string, Handler>>): void {
    let table = this.#services.get(service);
    if (!table) {
      table = new Map();
      this.#services.set(service, table);
    }
    for (const [name, handler] of Object.entries(methods)) table.set(name, handler);
  }

  /** Listens on a unix socket path, or on an already bound listening socket passed as an fd. */
  async listen(target: ListenTarget): Promise<void> {
    if (this.#isStopping()) throw new Error('ttrpc: server closed');
    const listener = net.createServer((socket) => {
      this.#accept(socket);
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(typeof target === 'string' ? { path: target } : { fd: target.fd }, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    listener.on('error', (err) => {
      this.#reportError(err);
    });
    this.#listeners.add(listener);
    // A close() that ran while we were binding must not leave this listener behind.
    if (this.#isStopping()) this.#closeListeners();
  }

  /**
   * Live upgrade, first step: no request is read any more (what arrives is kept unread, for
   * whoever serves next); requests already running go on. release() undoes it.
   */
  hold(): void {
    this.#held = true;
    for (const conn of this.#connections) conn.hold();
  }

  release(): void {
    this.#held = false;
    for (const conn of this.#connections) conn.release();
  }

  /**
   * While held: true once every running request is one `replayable` accepts (it can be run again
   * by the next process image, e.g. a Wait) and every reply has left.
   */
  settled(replayable: (service: string, method: string) => boolean): boolean {
    return [...this.#connections].every((c) => c.settled(replayable));
  }

  /**
   * While settled: the listening sockets and every connection as fds with what they still owe
   * (requests to run again, bytes not read yet). The fds stay open. `final` stops reading for
   * good (the caller execs next); otherwise it only describes.
   */
  handover(final: boolean): ServerHandover {
    const listenFds: number[] = [];
    for (const listener of this.#listeners) {
      const fd = handleFd(listener);
      if (fd >= 0) listenFds.push(fd);
    }
    const connections: ConnectionHandover[] = [];
    for (const conn of this.#connections) {
      const state = conn.handover(final);
      if (state) connections.push(state);
    }
    return { listenFds, connections };
  }

  /** A connection served by the process image before this one: replays its requests first. */
  adopt(state: ConnectionHandover): void {
    const socket = new net.Socket({ fd: state.fd, readable: true, writable: true });
    const conn = new Connection(socket, this.#host, state);
    this.#connections.add(conn);
    void conn.closed.then(() => this.#connections.delete(conn));
  }

  /** Connections currently open (for diagnostics and tests). */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Stops accepting, lets in-flight requests finish and their replies leave, then closes. */
  shutdown(): Promise<void> {
    if (this.#close) return this.#close;
    this.#shutdown ??= this.#gracefulShutdown();
    return this.#shutdown;
  }

  /** Stops accepting and closes every connection now; running handlers see their signal abort. */
  close(): Promise<void> {
    this.#close ??= this.#forcedClose();
    return this.#close;
  }

  #isStopping(): boolean {
    return this.#shutdown !== undefined || this.#close !== undefined;
  }

  async #gracefulShutdown(): Promise<void> {
    this.#closeListeners();
    // A close() meanwhile stops the wait: it aborts whatever is still running.
    while (this.#inflight > 0 && this.#close === undefined) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    await Promise.all([...this.#connections].map((c) => c.close(undefined)));
  }

  async #forcedClose(): Promise<void> {
    this.#closeListeners();
    for (const wake of this.#idleWaiters.splice(0)) wake();
    const reason = new ClosedError();
    await Promise.all([...this.#connections].map((c) => c.close(reason)));
  }

  #closeListeners(): void {
    for (const listener of this.#listeners) listener.close();
    this.#listeners.clear();
  }

  #accept(socket: net.Socket): void {
    if (this.#isStopping()) {
      socket.destroy();
      return;
    }
    const max = this.#options.maxConnections;
    if (max !== undefined && this.#connections.size >= max) {
      socket.destroy();
      this.#options.onRefused?.(`${String(this.#connections.size)} connections open, the limit`);
      return;
    }
    const filter = this.#options.connectionFilter;
    if (filter) {
      let allowed = false;
      try {
        allowed = filter(socket);
      } catch (err) {
        this.#reportError(err);
      }
      if (!allowed) {
        socket.destroy();
        return;
      }
    }
    const conn = new Connection(socket, this.#host);
    if (this.#held) conn.hold();
    this.#connections.add(conn);
    void conn.closed.then(() => this.#connections.delete(conn));
  }

  /** Routing; a miss is the reference's Unimplemented status. */
  #lookup(service: string, method: string): Handler | Status {
    const table = this.#services.get(service);
    if (!table) return { code: Code.Unimplemented, message: `service ${service}` };
    return table.get(method) ?? { code: Code.Unimplemented, message: `method ${method}` };
  }

  #reportError(err: unknown): void {
    try {
      this.#options.onError?.(err);
    } catch {
      // A failing error hook has nowhere left to report to.
    }
  }

  #requestDone(): void {
    this.#inflight--;
    if (this.#inflight === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** What a connection may ask of its server. */
  readonly #host: ConnectionHost = {
    lookup: (service, method) => this.#lookup(service, method),
    requestStarted: () => {
      this.#inflight++;
    },
    requestDone: () => {
      this.#requestDone();
    },
    reportError: (err) => {
      this.#reportError(err);
    },
  };
}

/** A request being served when the connection was handed over; `data` is the ttrpc Request. */
export interface HandedRequest {
  streamId: number;
  data: string;
}

/** One accepted connection, across an exec: its fd and what is owed on it (base64 bytes). */
export interface ConnectionHandover {
  fd: number;
  lastStreamId: number;
  requests: HandedRequest[];
  /** Received and not yet decoded (a partial frame, requests that arrived while held). */
  unread: string;
}

export interface ServerHandover {
  listenFds: number[];
  connections: ConnectionHandover[];
}

/** The fd under a net handle (libuv keeps it as is), or -1. */
function handleFd(handle: net.Socket | net.Server): number {
  const inner = (handle as unknown as { _handle?: { fd?: number } | null })._handle;
  return typeof inner?.fd === 'number' ? inner.fd : -1;
}

interface ConnectionHost {
  lookup(service: string, method: string): Handler | Status;
  requestStarted(): void;
  requestDone(): void;
  reportError(err: unknown): void;
}

class Connection {
  readonly closed: Promise<void>;
  readonly #socket: net.Socket;
  readonly #server: ConnectionHost;
  readonly #decoder = new FrameDecoder();
  /** In-flight streams; aborted when the connection goes away. */
  readonly #active = new Map<number, Cancellation>();
  #lastStreamId = 0;
  /** No more requests are read or replies written. */
  #done = false;
  /** close() has begun ending the socket. */
  #ending = false;
  /** The encoded Request of each running stream, should it have to be handed over. */
  readonly #requests = new Map<number, { request: ttrpc.Request; data: Uint8Array }>();
  /** Chunks received while held, not decoded. */
  #heldChunks: Buffer[] | undefined;

  constructor(socket: net.Socket, server: ConnectionHost, adopted?: ConnectionHandover) {
    this.#socket = socket;
    this.#server = server;
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        resolve();
      });
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#onData(chunk);
      } catch (err) {
        // Only a bug gets here. Losing this connection beats losing the process (and every
        // other connection with it).
        server.reportError(err);
        socket.destroy();
      }
    });
    // Resets and EPIPE from a departing peer end the connection quietly; 'close' follows.
    socket.on('error', () => undefined);
    socket.on('drain', () => {
      if (!this.#done) socket.resume();
    });
    // The reference stops serving a connection at read EOF; replies would have nowhere to go.
    socket.once('end', () => {
      this.#done = true;
      this.#abortAll(new ClosedError());
    });
    socket.once('close', () => {
      this.#done = true;
      this.#abortAll(new ClosedError());
    });
    if (adopted) {
      this.#lastStreamId = adopted.lastStreamId;
      for (const r of adopted.requests) {
        const data = Buffer.from(r.data, 'base64');
        const request = ttrpc.Request.decode(data);
        this.#requests.set(r.streamId, { request, data });
        this.#dispatch(r.streamId, request);
      }
      const unread = Buffer.from(adopted.unread, 'base64');
      if (unread.length > 0) this.#onData(unread);
    }
  }

  hold(): void {
    this.#heldChunks ??= [];
  }

  release(): void {
    const chunks = this.#heldChunks ?? [];
    this.#heldChunks = undefined;
    for (const chunk of chunks) this.#onData(chunk);
  }

  settled(replayable: (service: string, method: string) => boolean): boolean {
    if (this.#done || this.#socket.destroyed) return true;
    if (this.#socket.writableLength > 0) return false;
    for (const { request } of this.#requests.values()) {
      if (!replayable(request.service, request.method)) return false;
    }
    return true;
  }

  /** Stops reading for good and describes the connection; undefined once it is gone. */
  handover(final: boolean): ConnectionHandover | undefined {
    const fd = handleFd(this.#socket);
    if (this.#done || this.#socket.destroyed || fd < 0) return undefined;
    if (final) {
      const handle = (this.#socket as unknown as { _handle?: { readStop?: () => number } })._handle;
      handle?.readStop?.();
    }
    const partial = this.#decoder.pending();
    if (partial === undefined) return undefined; // inside an oversize body: cannot be resumed
    const unread: Buffer[] = [partial, ...(this.#heldChunks ?? [])];
    for (let chunk: unknown; final && (chunk = this.#socket.read()) !== null;) {
      if (Buffer.isBuffer(chunk)) unread.push(chunk);
    }
    return {
      fd,
      lastStreamId: this.#lastStreamId,
      requests: [...this.#requests].map(([streamId, r]) => ({
        streamId,
        data: Buffer.from(r.data).toString('base64'),
      })),
      unread: Buffer.concat(unread).toString('base64'),
    };
  }

  /**
   * Ends the connection: with a reason, running handlers are aborted first; replies already
   * written are flushed before the socket is destroyed (bounded by CLOSE_DRAIN_MS).
   */
  close(reason: Error | undefined): Promise<void> {
    if (reason) this.#abortAll(reason);
    this.#done = true;
    const socket = this.#socket;
    if (!this.#ending && !socket.destroyed) {
      this.#ending = true;
      socket.pause();
      const timer = setTimeout(() => socket.destroy(), CLOSE_DRAIN_MS);
      timer.unref();
      socket.end(() => {
        clearTimeout(timer);
        socket.destroy();
      });
    }
    return this.closed;
  }

  #abortAll(reason: Error): void {
    for (const cancellation of this.#active.values()) cancellation.abort(reason);
  }

  #onData(chunk: Buffer): void {
    if (this.#done) return;
    if (this.#heldChunks) {
      this.#heldChunks.push(chunk);
      return;
    }
    for (const frame of this.#decoder.push(chunk)) {
      if (frame.kind === 'oversize') {
        this.#sendStatus(frame.streamId, Code.ResourceExhausted, oversizeMessage(frame.length));
        continue;
      }
      if (frame.streamId % 2 !== 1) {
        this.#sendStatus(frame.streamId, Code.InvalidArgument, EVEN_STREAM_ID);
        continue;
      }
      // Data and unknown types have no meaning for unary calls; the reference ignores them.
      if (frame.type !== (MessageType.Request as number)) continue;
      if (frame.streamId <= this.#lastStreamId) {
        this.#sendStatus(frame.streamId, Code.InvalidArgument, STREAM_ID_REUSED);
        continue;
      }
      this.#lastStreamId = frame.streamId;
      let request: ttrpc.Request;
      try {
        request = ttrpc.Request.decode(frame.data);
      } catch (err) {
        const text = err instanceof Error ? err.message : String(err);
        this.#sendStatus(frame.streamId, Code.InvalidArgument, `unmarshal request error: ${text}`);
        continue;
      }
      this.#requests.set(frame.streamId, { request, data: frame.data });
      this.#dispatch(frame.streamId, request);
    }
  }

  #dispatch(streamId: number, request: ttrpc.Request): void {
    const handler = this.#server.lookup(request.service, request.method);
    if (typeof handler !== 'function') {
      this.#sendStatus(streamId, handler.code, handler.message);
      return;
    }
    const timeoutMs = toNumber(request.timeout_nano) / 1e6;
    const cancellation = new Cancellation(
      timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS ? Date.now() + timeoutMs : undefined,
    );
    this.#active.set(streamId, cancellation);
    const ctx: CallContext = {
      service: request.service,
      method: request.method,
      metadata: metadataFromList(request.metadata),
      get signal() {
        return cancellation.signal;
      },
    };
    this.#server.requestStarted();
    void this.#run(handler, request.payload, ctx).then((result) => {
      cancellation.dispose();
      this.#active.delete(streamId);
      this.#requests.delete(streamId);
      try {
        if (result instanceof Uint8Array) this.#sendPayload(streamId, result);
        else this.#sendStatus(streamId, result.code, result.message);
      } catch (err) {
        this.#server.reportError(err);
      }
      this.#server.requestDone();
    });
  }

  /** Never rejects: whatever the handler does becomes a payload or a status. */
  async #run(
    handler: Handler,
    payload: Uint8Array,
    ctx: CallContext,
  ): Promise<Uint8Array | Status> {
    try {
      const out: unknown = await handler(payload, ctx);
      if (out instanceof Uint8Array) return out;
      return { code: Code.Unknown, message: MARSHAL_NIL };
    } catch (err) {
      return toStatus(err);
    }
  }

  #sendPayload(streamId: number, payload: Uint8Array): void {
    // Status is omitted on success, as the reference does.
    const body = ttrpc.Response.encode({ payload }).finish();
    if (body.length > MAX_MESSAGE_LENGTH) {
      this.#sendStatus(streamId, Code.ResourceExhausted, oversizeMessage(body.length));
      return;
    }
    this.#write(streamId, body);
  }

  #sendStatus(streamId: number, code: Code, message: string): void {
    const text =
      message.length > MAX_ERROR_MESSAGE_CHARS
        ? message.slice(0, MAX_ERROR_MESSAGE_CHARS)
        : message;
    this.#write(streamId, ttrpc.Response.encode({ status: { code, message: text } }).finish());
  }

  #write(streamId: number, body: Uint8Array): void {
    if (this.#done || this.#socket.destroyed) return;
    // A peer that sends requests but does not read replies stops being read: memory stays bounded.
    if (!this.#socket.write(encodeFrame(streamId, MessageType.Response, 0, body))) {
      this.#socket.pause();
    }
  }
}

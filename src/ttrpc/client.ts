// ttrpc client for unary calls. Stream ids are allocated and their frames written in one
// synchronous step, so ids reach the server strictly increasing (ttrpc >= 1.2 servers reject
// anything else). There is no cancel frame: an abandoned call's late response is dropped.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ttrpc } from '../gen/ttrpc.js';
import { FrameDecoder } from './decoder.js';
import { MAX_MESSAGE_LENGTH, MessageType, encodeFrame, oversizeMessage } from './frame.js';
import { metadataToList } from './metadata.js';
import { ClosedError, Code, TtrpcError, codeFromNumber } from './status.js';

export interface ConnectOptions {
  /** Gives up connecting after this long (Unavailable). */
  timeoutMs?: number;
}

export interface CallOptions {
  /** Sent as timeout_nano; the call also fails locally with DeadlineExceeded when it elapses. */
  timeoutMs?: number;
  /** Request metadata; keys are lower-cased on the wire. */
  metadata?: Readonly<Record<string, string | readonly string[]>>;
  /** Abandons the call (Canceled); nothing is sent to the server. */
  signal?: AbortSignal;
}

interface Pending {
  resolve(payload: Uint8Array): void;
  reject(err: Error): void;
}

export interface ClientEvents {
  /** The connection is gone; `cause` is the socket error, if there was one. */
  close: [cause: Error | undefined];
}

const MAX_STREAM_ID = 0xffffffff;
const MAX_TIMER_MS = 2 ** 31 - 1;
const EMPTY = new Uint8Array(0);

export class Client extends EventEmitter<ClientEvents> {
  readonly #socket: net.Socket;
  readonly #decoder = new FrameDecoder();
  readonly #pending = new Map<number, Pending>();
  #nextStreamId = 1;
  #closed = false;
  #cause: Error | undefined;

  /** Connects to a unix socket path (a `unix://` prefix is accepted). */
  static connect(path: string, options: ConnectOptions = {}): Promise<Client> {
    const target = path.startsWith('unix://') ? path.slice('unix://'.length) : path;
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: target });
      let timer: NodeJS.Timeout | undefined;
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(
          new TtrpcError(Code.Unavailable, `ttrpc: dial ${target}: ${err.message}`, { cause: err }),
        );
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        resolve(new Client(socket));
      });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          fail(new Error('connect timeout'));
        }, options.timeoutMs);
      }
    });
  }

  /** Wraps an already connected socket; the client owns it from now on. */
  constructor(socket: net.Socket) {
    super();
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#onData(chunk);
    });
    socket.on('error', (err) => {
      this.#cause ??= err;
    });
    socket.once('close', () => {
      this.#teardown();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  call(
    service: string,
    method: string,
    payload: Uint8Array,
    options: CallOptions = {},
  ): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new ClosedError({ cause: this.#cause }));
    const { timeoutMs, metadata, signal } = options;
    if (signal?.aborted) return Promise.reject(canceled(signal));
    if (timeoutMs !== undefined && timeoutMs <= 0) return Promise.reject(deadlineExceeded());

    const request: ttrpc.Request.$Properties = { service, method, payload };
    if (timeoutMs !== undefined) request.timeout_nano = Math.round(timeoutMs * 1e6);
    if (metadata !== undefined) request.metadata = metadataToList(metadata);
    const body = ttrpc.Request.encode(request).finish();
    if (body.length > MAX_MESSAGE_LENGTH) {
      return Promise.reject(new TtrpcError(Code.ResourceExhausted, oversizeMessage(body.length)));
    }
    const streamId = this.#nextStreamId;
    if (streamId > MAX_STREAM_ID) {
      return Promise.reject(new TtrpcError(Code.ResourceExhausted, 'ttrpc: stream ids exhausted'));
    }
    this.#nextStreamId += 2;

    return new Promise<Uint8Array>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        entry.reject(canceled(signal));
      };
      const finish = (): void => {
        this.#pending.delete(streamId);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const entry: Pending = {
        resolve: (value) => {
          finish();
          resolve(value);
        },
        reject: (err) => {
          finish();
          reject(err);
        },
      };
      this.#pending.set(streamId, entry);
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        timer = setTimeout(() => {
          entry.reject(deadlineExceeded());
        }, timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#socket.write(encodeFrame(streamId, MessageType.Request, 0, body));
    });
  }

  /** Closes the connection; pending calls reject with ClosedError. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#socket.destroy();
    this.#teardown();
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    const cause = this.#cause;
    for (const entry of [...this.#pending.values()]) entry.reject(new ClosedError({ cause }));
    this.emit('close', cause);
  }

  #onData(chunk: Buffer): void {
    for (const frame of this.#decoder.push(chunk)) {
      if (frame.kind === 'oversize') {
        this.#pending
          .get(frame.streamId)
          ?.reject(new TtrpcError(Code.ResourceExhausted, oversizeMessage(frame.length)));
        continue;
      }
      if (frame.type !== (MessageType.Response as number)) continue;
      // Unknown ids are calls abandoned on timeout or cancel: drop the late reply.
      const entry = this.#pending.get(frame.streamId);
      if (!entry) continue;
      let response: ttrpc.Response;
      try {
        response = ttrpc.Response.decode(frame.data);
      } catch (err) {
        const text = err instanceof Error ? err.message : String(err);
        entry.reject(new TtrpcError(Code.Internal, `ttrpc: failed to decode response: ${text}`));
        continue;
      }
      // Absent status and an explicit code 0 both mean OK.
      const code = response.status?.code ?? 0;
      if (code !== 0) {
        entry.reject(new TtrpcError(codeFromNumber(code), response.status?.message ?? ''));
      } else {
        entry.resolve(response.payload.length > 0 ? response.payload : EMPTY);
      }
    }
  }
}

function deadlineExceeded(): TtrpcError {
  return new TtrpcError(Code.DeadlineExceeded, 'context deadline exceeded');
}

function canceled(signal: AbortSignal | undefined): TtrpcError {
  return new TtrpcError(Code.Canceled, 'context canceled', { cause: signal?.reason });
}

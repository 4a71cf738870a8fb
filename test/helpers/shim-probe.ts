// Direct ttrpc access to a running shim, for hostile-input tests: its socket (from the bundle's
// `address` file, as containerd finds it), a Task client carrying the namespace metadata, raw
// connections that see every Response frame, and the liveness check run after every batch.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { ttrpc } from '../../src/gen/ttrpc.js';
import {
  Client,
  FrameDecoder,
  MessageType,
  TtrpcError,
  encodeFrame,
} from '../../src/ttrpc/index.js';
import type { Harness } from './differential.js';
import { fdCount, isAlive, parentOf, waitFor } from './leaks.js';

export const TASK = 'containerd.task.v2.Task';
export const TASK_V3 = 'containerd.task.v3.Task';
const NS_KEY = 'containerd-namespace-ttrpc';

/** The shim socket path of a task, read from its bundle like containerd does. */
export function shimSocket(h: Harness, id: string): string {
  const address = readFileSync(
    `${h.cd.state}/io.containerd.runtime.v2.task/${h.cd.namespace}/${id}/address`,
    'utf8',
  ).trim();
  return address.replace(/^unix:\/\//, '');
}

export interface Outcome {
  /** 0 on success, else the ttrpc status code. */
  code: number;
  message: string;
  payload: Uint8Array;
}

interface Encodable<T> {
  encode(message: T): { finish(): Uint8Array };
}

/** A Task API client on one shim connection. */
export class TaskClient {
  private constructor(
    readonly client: Client,
    readonly namespace: string,
  ) {}

  static async connect(path: string, namespace: string): Promise<TaskClient> {
    return new TaskClient(await Client.connect(path), namespace);
  }

  call<T>(method: string, type: Encodable<T>, body: T, service = TASK): Promise<Outcome> {
    return this.callRaw(method, type.encode(body).finish(), service);
  }

  async callRaw(method: string, payload: Uint8Array, service = TASK): Promise<Outcome> {
    try {
      const out = await this.client.call(service, method, payload, {
        metadata: { [NS_KEY]: this.namespace },
        timeoutMs: 60_000,
      });
      return { code: 0, message: '', payload: out };
    } catch (err) {
      if (err instanceof TtrpcError)
        return { code: err.code, message: err.message, payload: new Uint8Array() };
      throw err;
    }
  }

  close(): void {
    this.client.close();
  }
}

/** A Request frame: any type byte, flags and stream id, so tests can send what a client must not. */
export function requestFrame(
  streamId: number,
  service: string,
  method: string,
  payload: Uint8Array,
  type: number = MessageType.Request,
  flags = 0,
): Buffer {
  const body = ttrpc.Request.encode({
    service,
    method,
    payload,
    metadata: [{ key: NS_KEY, value: 'default' }],
  }).finish();
  return encodeFrame(streamId, type, flags, body);
}

export interface RawResponse {
  streamId: number;
  code: number;
  message: string;
  payload: Uint8Array;
}

/** A raw socket to the shim that checks and collects every frame the shim sends back. */
export class RawConn {
  readonly responses: RawResponse[] = [];
  readonly closed: Promise<void>;
  #wake: (() => void) | undefined;
  #ended = false;

  private constructor(readonly socket: net.Socket) {
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        // Anything but a well-formed Response frame from the shim is a failure.
        assert.equal(frame.kind, 'frame');
        assert.equal(frame.type, MessageType.Response);
        assert.equal(frame.flags, 0);
        const r = ttrpc.Response.decode(frame.data);
        this.responses.push({
          streamId: frame.streamId,
          code: r.status?.code ?? 0,
          message: r.status?.message ?? '',
          payload: r.payload,
        });
      }
      this.#wake?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#ended = true;
        this.#wake?.();
        resolve();
      });
    });
  }

  static open(path: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConn(socket));
      });
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(bytes, (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** The response on `streamId`; fails if the shim closes the connection first. */
  async response(streamId: number): Promise<RawResponse> {
    for (;;) {
      const found = this.responses.find((r) => r.streamId === streamId);
      if (found) return found;
      if (this.#ended) throw new Error(`connection closed before a response on ${streamId}`);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Ends the connection (gracefully or with a reset) and waits until it is closed. */
  async close(reset = false): Promise<void> {
    if (reset) this.socket.destroy();
    else this.socket.end();
    await this.closed;
  }
}

/** The shim's soft and hard RLIMIT_NOFILE, from /proc. */
export function fdLimits(pid: number): { soft: number; hard: number } {
  const line = readFileSync(`/proc/${String(pid)}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').replace('Max open files', '').trim().split(/\s+/);
  return { soft: Number(soft), hard: Number(hard) };
}

export interface Watched {
  shimPid: number;
  /** The shim's fd count with every container idle, after a warm-up exec in each. */
  fds: number;
  /** Containers (RUNNING, served by this shim) that every check execs into. */
  ids: string[];
}

let checks = 0;

/**
 * After a batch: the same shim process is alive, its fd count is back to the baseline, every
 * watched container is still RUNNING under it, and `ctr task exec` works in each.
 */
export async function assertHealthy(h: Harness, w: Watched, batch: string): Promise<void> {
  assert.ok(isAlive(w.shimPid), `${batch}: shim ${String(w.shimPid)} is gone`);
  await waitFor(() => fdCount(w.shimPid) === w.fds, 30_000).catch(() => undefined);
  assert.equal(fdCount(w.shimPid), w.fds, `${batch}: shim fd count`);
  const { stdout } = await h.ctr(['task', 'ls']);
  for (const id of w.ids) {
    const line = stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
    const [, pid, status] = line?.trim().split(/\s+/) ?? [];
    assert.equal(status, 'RUNNING', `${batch}: ${id} status`);
    assert.equal(parentOf(Number(pid)), w.shimPid, `${batch}: ${id} still under the same shim`);
    const n = ++checks;
    const r = await h.ctr([
      'task',
      'exec',
      '--exec-id',
      `chk${String(n)}`,
      id,
      'echo',
      `ok${String(n)}`,
    ]);
    assert.equal(r.exitCode, 0, `${batch}: exec in ${id}: ${r.stderr}`);
    assert.equal(r.stdout, `ok${String(n)}`, `${batch}: exec output in ${id}`);
  }
  // The execs' FIFOs and pipes are gone again.
  await waitFor(() => fdCount(w.shimPid) === w.fds, 30_000).catch(() => undefined);
  assert.equal(fdCount(w.shimPid), w.fds, `${batch}: shim fd count after the check execs`);
}

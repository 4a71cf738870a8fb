// A typed Task API client for one shim, over the project's ttrpc client. Every call carries the
// namespace as ttrpc metadata, as containerd sends it; failures surface as TtrpcError.
import { Client } from '../ttrpc/index.js';
import { containerd } from '../gen/task.js';

const v2 = containerd.task.v2;
const TASK_SERVICE = 'containerd.task.v2.Task';
export const NAMESPACE_KEY = 'containerd-namespace-ttrpc';
const DEFAULT_TIMEOUT_MS = 60_000;

type Req<K extends keyof typeof v2> = (typeof v2)[K] extends { create(p?: infer P): unknown }
  ? P
  : never;

interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
}
interface Decoder<R> {
  decode(data: Uint8Array): R;
}

export interface ShimClientOptions {
  /** Per-call deadline; Wait has none. */
  timeoutMs?: number;
}

/** Strips `unix://` from a shim address. */
export function socketPathOf(address: string): string {
  return address.trim().replace(/^unix:\/\//, '');
}

export class ShimClient {
  private constructor(
    readonly client: Client,
    readonly namespace: string,
    private readonly timeoutMs: number,
  ) {}

  /** Connects to a shim socket given as a path or a unix:// address. */
  static async connect(
    address: string,
    namespace: string,
    options: ShimClientOptions = {},
  ): Promise<ShimClient> {
    const client = await Client.connect(socketPathOf(address));
    return new ShimClient(client, namespace, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  private async call<T, R>(
    method: string,
    type: Codec<T>,
    body: T,
    out: Decoder<R>,
    /** null: no deadline. */
    timeoutMs: number | null = this.timeoutMs,
  ): Promise<R> {
    const payload = await this.client.call(TASK_SERVICE, method, type.encode(body).finish(), {
      metadata: { [NAMESPACE_KEY]: this.namespace },
      ...(timeoutMs === null ? {} : { timeoutMs }),
    });
    return out.decode(payload);
  }

  create(req: Req<'CreateTaskRequest'>): Promise<containerd.task.v2.CreateTaskResponse> {
    return this.call('Create', v2.CreateTaskRequest, req, v2.CreateTaskResponse);
  }
  start(req: Req<'StartRequest'>): Promise<containerd.task.v2.StartResponse> {
    return this.call('Start', v2.StartRequest, req, v2.StartResponse);
  }
  state(req: Req<'StateRequest'>): Promise<containerd.task.v2.StateResponse> {
    return this.call('State', v2.StateRequest, req, v2.StateResponse);
  }
  async kill(req: Req<'KillRequest'>): Promise<void> {
    await this.call('Kill', v2.KillRequest, req, empty);
  }
  async exec(req: Req<'ExecProcessRequest'>): Promise<void> {
    await this.call('Exec', v2.ExecProcessRequest, req, empty);
  }
  delete(req: Req<'DeleteRequest'>): Promise<containerd.task.v2.DeleteResponse> {
    return this.call('Delete', v2.DeleteRequest, req, v2.DeleteResponse);
  }
  /** Waits for the process to exit: no deadline, it may run for ever. */
  wait(req: Req<'WaitRequest'>): Promise<containerd.task.v2.WaitResponse> {
    return this.call('Wait', v2.WaitRequest, req, v2.WaitResponse, null);
  }
  pids(req: Req<'PidsRequest'>): Promise<containerd.task.v2.PidsResponse> {
    return this.call('Pids', v2.PidsRequest, req, v2.PidsResponse);
  }
  async resizePty(req: Req<'ResizePtyRequest'>): Promise<void> {
    await this.call('ResizePty', v2.ResizePtyRequest, req, empty);
  }
  async closeIO(req: Req<'CloseIORequest'>): Promise<void> {
    await this.call('CloseIO', v2.CloseIORequest, req, empty);
  }
  async shutdown(req: Req<'ShutdownRequest'>): Promise<void> {
    await this.call('Shutdown', v2.ShutdownRequest, req, empty);
  }
  connect(req: Req<'ConnectRequest'>): Promise<containerd.task.v2.ConnectResponse> {
    return this.call('Connect', v2.ConnectRequest, req, v2.ConnectResponse);
  }

  /** Resolves when the connection is gone: after Shutdown, once the shim has exited. */
  closed(): Promise<void> {
    if (this.client.closed) return Promise.resolve();
    return new Promise((resolve) =>
      this.client.once('close', () => {
        resolve();
      }),
    );
  }

  close(): void {
    this.client.close();
  }
}

/** google.protobuf.Empty: nothing to decode. */
const empty: Decoder<void> = { decode: () => undefined };

// A typed Task API client for one shim socket, over the project's own ttrpc client: what
// containerd's runtime v2 manager calls, for tools and tests that drive a shim directly.
import { containerd } from '../gen/task.js';
import { Client } from '../ttrpc/index.js';

const v2 = containerd.task.v2;
type V2 = typeof v2;
/** A request's fields, as the generated constructor takes them. */
type Props<K extends keyof V2> = V2[K] extends abstract new (p?: infer P) => unknown
  ? NonNullable<P>
  : never;
type Reply<K extends keyof V2> = V2[K] extends abstract new (...a: never[]) => infer R ? R : never;

/** The metadata key carrying the namespace on shim calls (containerd's ttrpc namespace header). */
const NAMESPACE_KEY = 'containerd-namespace-ttrpc';
export const TASK_SERVICE = 'containerd.task.v2.Task';

interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
}
interface Decoder<R> {
  decode(bytes: Uint8Array): R;
}

export class ShimClient {
  private constructor(
    private readonly client: Client,
    readonly namespace: string,
  ) {}

  /** Connects to a shim's socket: a path or a `unix://` address. */
  static async connect(address: string, namespace: string): Promise<ShimClient> {
    return new ShimClient(await Client.connect(address, { timeoutMs: 10_000 }), namespace);
  }

  /** Resolves when the connection is gone (the daemon exited after Shutdown). */
  get closed(): Promise<void> {
    if (this.client.closed) return Promise.resolve();
    return new Promise((resolve) =>
      this.client.once('close', () => {
        resolve();
      }),
    );
  }

  private async call<T, R>(
    method: string,
    codec: Codec<T>,
    request: T,
    response?: Decoder<R>,
  ): Promise<R | undefined> {
    const reply = await this.client.call(TASK_SERVICE, method, codec.encode(request).finish(), {
      metadata: { [NAMESPACE_KEY]: this.namespace },
    });
    return response?.decode(reply);
  }

  async create(req: Props<'CreateTaskRequest'>): Promise<{ pid: number }> {
    const r = await this.call('Create', v2.CreateTaskRequest, req, v2.CreateTaskResponse);
    return { pid: r?.pid ?? 0 };
  }

  async start(req: Props<'StartRequest'>): Promise<{ pid: number }> {
    const r = await this.call('Start', v2.StartRequest, req, v2.StartResponse);
    return { pid: r?.pid ?? 0 };
  }

  async state(req: Props<'StateRequest'>): Promise<Reply<'StateResponse'>> {
    const r = await this.call('State', v2.StateRequest, req, v2.StateResponse);
    return r ?? new v2.StateResponse();
  }

  async kill(req: Props<'KillRequest'>): Promise<void> {
    await this.call('Kill', v2.KillRequest, req);
  }

  async exec(req: Props<'ExecProcessRequest'>): Promise<void> {
    await this.call('Exec', v2.ExecProcessRequest, req);
  }

  async resizePty(req: Props<'ResizePtyRequest'>): Promise<void> {
    await this.call('ResizePty', v2.ResizePtyRequest, req);
  }

  async closeIO(req: Props<'CloseIORequest'>): Promise<void> {
    await this.call('CloseIO', v2.CloseIORequest, req);
  }

  async pids(req: Props<'PidsRequest'>): Promise<Reply<'PidsResponse'>> {
    const r = await this.call('Pids', v2.PidsRequest, req, v2.PidsResponse);
    return r ?? new v2.PidsResponse();
  }

  /** Waits for the process to exit: its status. */
  async wait(req: Props<'WaitRequest'>): Promise<{ exitStatus: number }> {
    const r = await this.call('Wait', v2.WaitRequest, req, v2.WaitResponse);
    return { exitStatus: r?.exit_status ?? 0 };
  }

  async delete(req: Props<'DeleteRequest'>): Promise<{ pid: number; exitStatus: number }> {
    const r = await this.call('Delete', v2.DeleteRequest, req, v2.DeleteResponse);
    return { pid: r?.pid ?? 0, exitStatus: r?.exit_status ?? 0 };
  }

  /** Asks the daemon to exit once it serves no container. */
  async shutdown(req: Props<'ShutdownRequest'> = {}): Promise<void> {
    await this.call('Shutdown', v2.ShutdownRequest, req);
  }

  close(): void {
    this.client.close();
  }
}

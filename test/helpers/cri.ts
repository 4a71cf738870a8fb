// CRI through crictl against a private containerd: a pod/container vocabulary for CRI suites.
// Pods get their own network namespace on a CNI bridge of the test's own (see cni.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { execa } from 'execa';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/minimal.js';
import { createCniNetwork, type CniNetwork } from './cni.js';
import { REPO, startContainerd, type Containerd } from './containerd.js';
import { ensureBusyboxImage } from './image.js';
import { waitFor } from './leaks.js';

/** CRI's handler names in the test config: `runc` is the reference, `ts` is ours. */
export const HANDLERS = { reference: 'runc', ours: 'ts' } as const;
export type Handler = (typeof HANDLERS)[keyof typeof HANDLERS];

export const PAUSE_IMAGE = 'docker.io/library/shimtest-pause:1';
/** A pause stand-in: PID 1 that waits until TERM or INT (containerd stops sandboxes with TERM). */
const PAUSE_CMD = [
  '/bin/sh',
  '-c',
  'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done',
];

const TEST_TOOLS = process.env['SHIM_TEST_TOOLS'] ?? join(REPO, '../shared/test-tools');

/** crictl's bin dir from the test tools, or '' when they are not there. */
export function crictlBin(): string {
  const r = spawnSync(join(TEST_TOOLS, 'use.sh'), ['crictl'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

export interface CrictlResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** What `crictl inspect -o json` / `inspectp -o json` print, as far as the suites read it. */
export interface Inspected {
  status: {
    state: string;
    exitCode?: number;
    reason?: string;
    network?: { ip?: string; additionalIps?: { ip: string }[] };
  };
  info?: {
    pid?: number;
    runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } };
  };
}

export class Cri {
  cd!: Containerd;
  net: CniNetwork | undefined;
  image = '';
  dir = '';
  #crictl = '';
  #seq = 0;

  async setUp(): Promise<void> {
    const bin = crictlBin();
    if (bin === '') throw new Error(`crictl not found in the test tools (${TEST_TOOLS})`);
    this.#crictl = join(bin, 'crictl');
    this.dir = mkdtempSync('/tmp/cri-');
    this.net = createCniNetwork(this.dir);
    this.cd = await startContainerd({
      cri: { sandboxImage: PAUSE_IMAGE, cniBinDir: this.net.binDir, cniConfDir: this.net.confDir },
    });
    this.image = await ensureBusyboxImage(this.cd, 'k8s.io');
    await ensureBusyboxImage(this.cd, 'k8s.io', PAUSE_IMAGE, PAUSE_CMD);
  }

  async tearDown(): Promise<void> {
    try {
      if ((this.cd as Containerd | undefined) !== undefined) {
        // Whatever a failed test left: pods (and so their containers) go first.
        const pods = await this.crictl(['pods', '-q']);
        for (const id of pods.stdout.split('\n').filter(Boolean)) {
          await this.crictl(['stopp', id]);
          await this.crictl(['rmp', '-f', id]);
        }
        await this.cd.stop();
      }
    } finally {
      this.net?.remove();
      if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** crictl's path and full argv (endpoints included) for `args`, to run it elsewhere. */
  crictlCommand(args: string[]): [string, string[]] {
    const ep = `unix://${this.cd.address}`;
    return [
      this.#crictl,
      ['--runtime-endpoint', ep, '--image-endpoint', ep, '--timeout', '30s', ...args],
    ];
  }

  async crictl(args: string[], timeoutMs = 60000, input = ''): Promise<CrictlResult> {
    const [file, argv] = this.crictlCommand(args);
    const r = await execa(file, argv, { reject: false, timeout: timeoutMs, input });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  }

  async ok(args: string[]): Promise<string> {
    const r = await this.crictl(args);
    if (r.exitCode !== 0) throw new Error(`crictl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  }

  #file(name: string, body: unknown): string {
    const path = join(this.dir, `${name}-${++this.#seq}.json`);
    writeFileSync(path, JSON.stringify(body));
    return path;
  }

  /**
   * CRI's RuntimeService.ReopenContainerLog, which crictl has no command for (kubelet calls it
   * after rotating a log): ReopenContainerLogRequest{container_id = 1}, an empty response. The
   * message is one field, so it is encoded by hand; resolves to the gRPC status code and text.
   */
  reopenContainerLog(id: string): Promise<{ code: number; message: string }> {
    const body = protobuf.Writer.create()
      .uint32((1 << 3) | 2)
      .string(id)
      .finish();
    const client = new grpc.Client(`unix://${this.cd.address}`, grpc.credentials.createInsecure());
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        '/runtime.v1.RuntimeService/ReopenContainerLog',
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        { deadline: Date.now() + 30000 },
        (err: grpc.ServiceError | null) => {
          client.close();
          resolve(err ? { code: err.code, message: err.details } : { code: 0, message: '' });
        },
      );
    });
  }

  /** Runs a pod sandbox under `handler`; returns its id, its config file and its log dir. */
  async runPod(
    handler: Handler,
    name: string,
  ): Promise<{ id: string; config: string; logDir: string }> {
    const uid = `${name}-${handler}-${++this.#seq}`;
    const logs = join(this.dir, 'logs', uid);
    mkdirSync(logs, { recursive: true });
    const config = this.#file(`pod-${uid}`, {
      metadata: { name: uid, namespace: 'shimtest', uid, attempt: 0 },
      log_directory: logs,
      // POD network (the default): a network namespace of its own, set up by the CNI bridge.
    });
    const id = await this.ok(['runp', '--runtime', handler, config]);
    return { id, config, logDir: logs };
  }

  /** Creates a container in a pod; returns its id. */
  async create(
    pod: { id: string; config: string },
    name: string,
    command: string[],
    extra: { attempt?: number; linux?: unknown; stdin?: boolean } = {},
  ): Promise<string> {
    const config = this.#file(`ctr-${name}`, {
      metadata: { name, attempt: extra.attempt ?? 0 },
      image: { image: this.image },
      command,
      log_path: `${name}-${extra.attempt ?? 0}.log`,
      linux: extra.linux ?? {},
      // An open stdin, closed for good when the first attach ends (stdin_once), as kubectl run -i.
      ...(extra.stdin ? { stdin: true, stdin_once: true } : {}),
    });
    return this.ok(['create', pod.id, config, pod.config]);
  }

  async inspect(id: string): Promise<Inspected> {
    return JSON.parse(await this.ok(['inspect', '-o', 'json', id])) as Inspected;
  }

  async inspectPod(id: string): Promise<Inspected> {
    return JSON.parse(await this.ok(['inspectp', '-o', 'json', id])) as Inspected;
  }

  /** The pod's IP address as CRI reports it. */
  async podIp(id: string): Promise<string> {
    return (await this.inspectPod(id)).status.network?.ip ?? '';
  }

  /** The path of the pod's network namespace (a bind mount containerd made), '' if none. */
  async podNetns(id: string): Promise<string> {
    const ns = (await this.inspectPod(id)).info?.runtimeSpec?.linux?.namespaces ?? [];
    return ns.find((n) => n.type === 'network')?.path ?? '';
  }

  async podState(id: string): Promise<string> {
    return (await this.inspectPod(id)).status.state;
  }

  /** Waits until the container has exited; returns state, exit code and reason. */
  async waitExited(id: string): Promise<{ state: string; exitCode: number; reason: string }> {
    let last: Inspected | undefined;
    await waitFor(
      async () => {
        last = await this.inspect(id);
        return last.status.state === 'CONTAINER_EXITED';
      },
      30000,
      100,
    );
    if (!last) throw new Error(`${id}: never inspected`);
    return this.exitOf(last);
  }

  exitOf(info: Inspected): { state: string; exitCode: number; reason: string } {
    const s = info.status;
    return { state: s.state, exitCode: Number(s.exitCode), reason: String(s.reason) };
  }

  /** The pid of a running container's (or pod sandbox's) init. */
  async pidOf(id: string, pod = false): Promise<number> {
    const info = pod ? await this.inspectPod(id) : await this.inspect(id);
    return Number(info.info?.pid);
  }

  async removePod(id: string): Promise<void> {
    await this.ok(['stopp', id]);
    await this.ok(['rmp', id]);
  }
}

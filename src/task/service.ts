// The Task service: one instance per shim process, hosting any number of containers (so a pod's
// containers can share one shim). Owns exit dispatch and event ordering:
//  - no exit event before its process's start event (early exits are held back, then processed);
//  - the init exit is published only after the exits of all its running execs;
//  - exactly one exit per process; exits of unknown pids (reaped orphans) are ignored.
import { cpSync, realpathSync } from 'node:fs';
import { containerd } from '../gen/task.js';
import { containerd as runcOptions } from '../gen/options.js';
import { GO_ZERO_TIME, timestampFromDate } from '../base/proto-util.js';
import { ShimError } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import type { Monitor } from '../reaper/monitor.js';
import type { Exit } from '../reaper/exit.js';
import { Container, type ContainerHandover } from '../process/container.js';
import type { Process, ProcessStatus } from '../process/process.js';
import { checkBundle, saveInitExit } from '../process/bundle.js';
import type { TaskEvents } from '../events/topics.js';
import { ContainerCgroup } from '../cgroups/index.js';
import { decodeCheckpointOptions, decodeRuntimeOptions } from './options.js';
import { encodeMetrics } from './stats.js';

type V2 = typeof containerd.task.v2;
type Req<K extends keyof V2> = InstanceType<V2[K]>;
const Status = containerd.v1.types.Status;

const SIGKILL = 9;

/** Where a running pid belongs; `held` collects exits seen while its start event is not queued. */
interface Running {
  container: Container;
  process: Process;
  held: Exit[] | undefined;
}

/** The service across a live upgrade: containers, and init exits seen and not yet published. */
export interface TaskHandover {
  containers: ContainerHandover[];
  /** Init exits reaped whose /tasks/exit is not queued yet (waiting for execs to exit). */
  pendingInitExits: { id: string; pid: number; status: number; at: string }[];
}

export interface TaskServiceDeps {
  namespace: string;
  monitor: Monitor;
  events: TaskEvents;
  log: Logger;
  /** Resolves an OCI runtime binary name to an absolute path. */
  resolveBinary: (name: string) => string;
  /** Called when Shutdown finds no container left. */
  onShutdown: () => void;
  /** Called when a Create for `id` arrives, before any check. */
  onCreate?: (id: string) => void;
  /** Called with the ids served after a container is added or deleted. */
  onContainersChanged?: (ids: string[]) => void;
}

export class TaskService {
  readonly #containers = new Map<string, Container>();
  /** Ids being created, with their bundles (real paths). */
  readonly #creating = new Map<string, string>();
  readonly #running = new Map<number, Running>();
  /** Exit collectors of exec starts in flight (their pid is not known yet). */
  readonly #startWatchers = new Set<Exit[]>();
  /** Resolvers waiting for a container's running execs to reach 0. */
  readonly #execsDrained = new Map<Container, (() => void)[]>();
  /** Cgroups (stats, OOM watching) by container id; closed at Delete. */
  readonly #cgroups = new Map<string, ContainerCgroup>();
  /** Per container with starts in flight: OOMs seen meanwhile, published after the start event. */
  readonly #heldOoms = new Map<string, { starts: number; ooms: number }>();
  readonly #unsubscribe: () => void;
  /** Init exits being processed, until their /tasks/exit is queued. */
  readonly #pendingInitExits = new Map<Container, Exit>();
  /** Exits waiting for their output to be read before they are recorded and published. */
  #settling = 0;

  constructor(private readonly deps: TaskServiceDeps) {
    const sub = deps.monitor.subscribe((exit) => {
      this.onExit(exit);
    });
    this.#unsubscribe = () => {
      sub.dispose();
    };
  }

  get containerCount(): number {
    return this.#containers.size;
  }

  /** A Create is in flight. */
  get creating(): boolean {
    return this.#creating.size > 0;
  }

  /** Why the containers cannot cross a live upgrade now, or undefined if they can. */
  handoverRefusal(): string | undefined {
    if (this.#creating.size > 0) return 'a Create is in progress';
    if (this.#startWatchers.size > 0 || this.#heldOoms.size > 0) return 'a Start is in progress';
    for (const container of this.#containers.values()) {
      const why = container.handoverRefusal();
      if (why !== undefined) return why;
    }
    return undefined;
  }

  /**
   * Every container's stdio held still; true once nothing read is left unwritten and no exit is
   * waiting for its output to be read (it would not be in the handover).
   */
  quiesce(): boolean {
    let still = this.#settling === 0;
    for (const container of this.#containers.values()) if (!container.quiesce()) still = false;
    return still;
  }

  unquiesce(): void {
    for (const container of this.#containers.values()) container.unquiesce();
  }

  /** `final` detaches the stdio copies (the process execs next); otherwise only describes. */
  handover(final: boolean): TaskHandover {
    return {
      containers: [...this.#containers.values()].map((c) => c.handover(final)),
      pendingInitExits: [...this.#pendingInitExits].map(([container, exit]) => ({
        id: container.id,
        pid: exit.pid,
        status: exit.status,
        at: exit.at.toISOString(),
      })),
    };
  }

  /**
   * Containers handed over by the previous process image. Call before the monitor reaps: exits
   * that happened meanwhile are still zombies, and are dispatched as usual once it does.
   */
  adopt(state: TaskHandover): void {
    for (const cs of state.containers) {
      const container = Container.adopt(cs, this.deps.monitor);
      this.#containers.set(container.id, container);
      const init = container.init;
      if (!container.restorePending && init.pid > 0 && !init.exit && !container.initExited) {
        this.#running.set(init.pid, { container, process: init, held: undefined });
        this.loadCgroup(container);
      }
      for (const exec of container.execs.values()) {
        if (exec.pid > 0 && !exec.exit && exec.status !== 'created') {
          this.#running.set(exec.pid, { container, process: exec, held: undefined });
        }
      }
    }
    this.deps.onContainersChanged?.([...this.#containers.keys()]);
    for (const pending of state.pendingInitExits) {
      const container = this.#containers.get(pending.id);
      if (!container) continue;
      void this.processInitExit(container, {
        pid: pending.pid,
        status: pending.status,
        at: new Date(pending.at),
      });
    }
  }

  close(): void {
    this.#unsubscribe();
    for (const cg of this.#cgroups.values()) cg.close();
    this.#cgroups.clear();
  }

  private container(id: string): Container {
    const c = this.#containers.get(id);
    if (!c) throw new ShimError('not-found', 'container not created');
    return c;
  }

  private process(id: string, execId: string): [Container, Process] {
    const c = this.container(id);
    return [c, execId === '' ? c.init : c.getExec(execId)];
  }

  async create(
    req: Req<'CreateTaskRequest'>,
  ): Promise<containerd.task.v2.CreateTaskResponse.$Properties> {
    this.deps.onCreate?.(req.id);
    if (this.#containers.has(req.id) || this.#creating.has(req.id)) {
      throw new ShimError('already-exists', `container ${req.id}`);
    }
    checkBundle(req.bundle);
    const bundle = realBundle(req.bundle);
    // Two containers in one bundle would overwrite each other's pid file and options.
    for (const [other, otherBundle] of [
      ...[...this.#containers.values()].map((c): [string, string] => [c.id, realBundle(c.bundle)]),
      ...this.#creating,
    ]) {
      if (otherBundle === bundle) {
        throw new ShimError('invalid-argument', `bundle ${req.bundle} is in use by ${other}`);
      }
    }
    const options = decodeRuntimeOptions(req.options);
    const stdio = {
      stdin: req.stdin,
      stdout: req.stdout,
      stderr: req.stderr,
      terminal: req.terminal,
    };
    // Reserve the id while runc works, so a concurrent duplicate Create fails.
    this.#creating.set(req.id, bundle);
    const container = await Container.create(
      {
        id: req.id,
        bundle: req.bundle,
        namespace: this.deps.namespace,
        rootfs: req.rootfs.map((m) => ({
          type: m.type ?? '',
          source: m.source ?? '',
          target: m.target ?? '',
          options: m.options ?? [],
        })),
        stdio,
        options,
        // 1.6/1.7 pass a client's restore image path only in the options for our runtime name.
        checkpoint: req.checkpoint || options.criuImagePath,
        parentCheckpoint: req.parent_checkpoint,
      },
      this.deps.monitor,
      this.deps.resolveBinary(options.binaryName || 'runc'),
    ).finally(() => this.#creating.delete(req.id));
    this.#containers.set(req.id, container);
    this.deps.onContainersChanged?.([...this.#containers.keys()]);
    // A restore has no process (pid 0) until Start.
    if (!container.restorePending) {
      this.#running.set(container.init.pid, {
        container,
        process: container.init,
        held: undefined,
      });
      this.loadCgroup(container);
    }
    this.deps.events.create({
      container_id: req.id,
      bundle: req.bundle,
      rootfs: req.rootfs,
      io: stdio,
      checkpoint: req.checkpoint,
      pid: container.init.pid,
    });
    this.deps.log.info('container created', { id: req.id, pid: container.init.pid });
    return { pid: container.init.pid };
  }

  /** Right after create (as 2.x does), so even a very early OOM is seen. */
  private loadCgroup(container: Container): void {
    const id = container.id;
    try {
      const cg = ContainerCgroup.load(
        container.init.pid,
        () => {
          this.publishOom(id);
        },
        this.deps.log,
      );
      this.#cgroups.set(id, cg);
    } catch (err) {
      this.deps.log.warn('no cgroup for container', { id, error: String(err) });
    }
  }

  private publishOom(id: string): void {
    this.deps.log.info('container oom', { id });
    const held = this.#heldOoms.get(id);
    if (held) held.ooms++;
    else this.deps.events.oom({ container_id: id });
  }

  /** A start (init or exec) begins: its process may OOM before its start event is queued. */
  private holdOoms(id: string): void {
    const held = this.#heldOoms.get(id) ?? { starts: 0, ooms: 0 };
    held.starts++;
    this.#heldOoms.set(id, held);
  }

  /** After the start event is queued (or the start failed): publish what was held. */
  private releaseOoms(id: string): void {
    const held = this.#heldOoms.get(id);
    if (!held || --held.starts > 0) return;
    this.#heldOoms.delete(id);
    for (let i = 0; i < held.ooms; i++) this.deps.events.oom({ container_id: id });
  }

  /** The last look at the kill counter before an exit: its OOM goes first, even if held. */
  private checkOomBeforeExit(id: string): void {
    const held = this.#heldOoms.get(id);
    this.#heldOoms.delete(id);
    for (let i = 0; i < (held?.ooms ?? 0); i++) this.deps.events.oom({ container_id: id });
    this.#cgroups.get(id)?.checkOom();
    if (held) this.#heldOoms.set(id, { starts: held.starts, ooms: 0 });
  }

  async start(req: Req<'StartRequest'>): Promise<containerd.task.v2.StartResponse.$Properties> {
    const [container, proc] = this.process(req.id, req.exec_id);
    if (req.exec_id === '') {
      if (container.restorePending) return this.startRestore(container);
      const entry = this.#running.get(proc.pid);
      if (entry) entry.held = [];
      this.holdOoms(container.id);
      try {
        await container.start();
      } finally {
        // Queue the start event before any OOM or exit of this process is processed.
        const held = entry?.held ?? [];
        if (entry) entry.held = undefined;
        if (proc.status === 'running' || held.length > 0) {
          this.deps.events.start({ container_id: container.id, pid: proc.pid });
        }
        this.releaseOoms(container.id);
        for (const exit of held) this.dispatchExit(exit);
      }
      this.deps.log.info('container started', { id: container.id, pid: proc.pid });
      return { pid: proc.pid };
    }
    const watcher: Exit[] = [];
    this.#startWatchers.add(watcher);
    container.runningExecs++;
    this.holdOoms(container.id);
    try {
      await container.startExec(proc);
    } catch (err) {
      this.#startWatchers.delete(watcher);
      this.releaseOoms(container.id);
      this.execStopped(container);
      throw err;
    }
    this.#startWatchers.delete(watcher);
    this.deps.events.execStarted({ container_id: container.id, exec_id: proc.id, pid: proc.pid });
    this.deps.log.info('exec started', { id: container.id, exec_id: proc.id, pid: proc.pid });
    this.releaseOoms(container.id);
    const early = watcher.find((e) => e.pid === proc.pid);
    if (early) this.processExit(container, proc, early);
    else this.#running.set(proc.pid, { container, process: proc, held: undefined });
    return { pid: proc.pid };
  }

  /** Start of a created-from-checkpoint init: like an exec, its pid is known only afterwards. */
  private async startRestore(
    container: Container,
  ): Promise<containerd.task.v2.StartResponse.$Properties> {
    const proc = container.init;
    const watcher: Exit[] = [];
    this.#startWatchers.add(watcher);
    try {
      await container.start();
    } finally {
      this.#startWatchers.delete(watcher);
    }
    this.deps.events.start({ container_id: container.id, pid: proc.pid });
    this.deps.log.info('container started', { id: container.id, pid: proc.pid, restored: true });
    const early = watcher.find((e) => e.pid === proc.pid);
    if (early) this.processExit(container, proc, early);
    else {
      this.#running.set(proc.pid, { container, process: proc, held: undefined });
      this.loadCgroup(container);
    }
    return { pid: proc.pid };
  }

  /** Checkpoint (init only). Like the reference, no event is published. */
  async checkpoint(req: Req<'CheckpointTaskRequest'>): Promise<void> {
    const container = this.container(req.id);
    const options = decodeCheckpointOptions(req.options);
    const asked = options.imagePath;
    if (asked === '' || asked === req.path) {
      await container.checkpoint(req.path, options);
      return;
    }
    // containerd 1.6/1.7 apply a client's image path only for io.containerd.runc.* runtime names:
    // ours gets a temporary `path` (which containerd then stores as a checkpoint image) and the
    // image path in the options. Dump where the client asked, and give containerd the same images,
    // so neither is an empty checkpoint.
    await container.checkpoint(asked, options);
    cpSync(asked, req.path, { recursive: true });
  }

  private onExit(exit: Exit): void {
    for (const watcher of this.#startWatchers) watcher.push(exit);
    this.dispatchExit(exit);
  }

  private dispatchExit(exit: Exit): void {
    const entry = this.#running.get(exit.pid);
    if (!entry) return; // an orphan re-parented to us, or an exec whose start is in flight
    if (entry.held) {
      entry.held.push(exit);
      return;
    }
    this.#running.delete(exit.pid);
    this.processExit(entry.container, entry.process, exit);
  }

  private processExit(container: Container, proc: Process, exit: Exit): void {
    if (proc === container.init) void this.processInitExit(container, exit);
    else void this.processExecExit(container, proc, exit);
  }

  /**
   * Waits until the client has read what an exited process wrote (settle.ts): containerd's client
   * closes its readers once it learns of the exit. A live upgrade waits for these to end.
   */
  private async settleOutput(proc: Process): Promise<void> {
    this.#settling++;
    try {
      await proc.io?.settle();
    } finally {
      this.#settling--;
    }
  }

  private async processExecExit(container: Container, proc: Process, exit: Exit): Promise<void> {
    proc.reaped = true;
    await this.settleOutput(proc);
    // An OOM kill not yet reported is published before the exit it caused.
    this.checkOomBeforeExit(container.id);
    proc.setExited(exit.status, exit.at);
    this.deps.log.info('exec exited', {
      id: container.id,
      exec_id: proc.id,
      pid: proc.pid,
      exit_status: exit.status,
    });
    this.deps.events.exit({
      container_id: container.id,
      id: proc.id,
      pid: proc.pid,
      exit_status: exit.status,
      exited_at: timestampFromDate(exit.at),
    });
    this.execStopped(container);
  }

  private async processInitExit(container: Container, exit: Exit): Promise<void> {
    container.initExited = true;
    this.#pendingInitExits.set(container, exit);
    if (!container.privatePidNamespace) {
      // Without its own PID namespace nothing kills the rest when the init dies.
      await container.runc.kill(container.id, SIGKILL, true).catch(() => undefined);
    }
    if (container.runningExecs > 0) {
      await new Promise<void>((resolve) => {
        const list = this.#execsDrained.get(container) ?? [];
        list.push(resolve);
        this.#execsDrained.set(container, list);
      });
    }
    const init = container.init;
    await this.settleOutput(init);
    // Read the kill counter once more: TaskOOM must precede the TaskExit it caused.
    this.checkOomBeforeExit(container.id);
    init.setExited(exit.status, exit.at);
    this.deps.log.info('container exited', {
      id: container.id,
      pid: init.pid,
      exit_status: exit.status,
    });
    try {
      saveInitExit(container.bundle, exit.status, exit.at);
    } catch {
      // The bundle may already be gone; the record only helps a later `delete` action.
    }
    this.#pendingInitExits.delete(container);
    this.deps.events.exit({
      container_id: container.id,
      id: container.id,
      pid: init.pid,
      exit_status: exit.status,
      exited_at: timestampFromDate(exit.at),
    });
  }

  private execStopped(container: Container): void {
    container.runningExecs = Math.max(0, container.runningExecs - 1);
    if (container.runningExecs > 0) return;
    const waiters = this.#execsDrained.get(container) ?? [];
    this.#execsDrained.delete(container);
    for (const resolve of waiters) resolve();
  }

  async delete(req: Req<'DeleteRequest'>): Promise<containerd.task.v2.DeleteResponse.$Properties> {
    const [container, proc] = this.process(req.id, req.exec_id);
    if (req.exec_id !== '') {
      await container.deleteExec(proc);
      this.deps.log.info('exec deleted', { id: container.id, exec_id: proc.id });
      return exitResponse(proc);
    }
    await container.delete();
    this.#cgroups.get(container.id)?.close();
    this.#cgroups.delete(container.id);
    this.#running.delete(proc.pid);
    for (const exec of container.execs.values()) this.#running.delete(exec.pid);
    this.#containers.delete(container.id);
    this.deps.onContainersChanged?.([...this.#containers.keys()]);
    const response = exitResponse(proc);
    this.deps.events.delete({
      container_id: container.id,
      pid: response.pid,
      exit_status: response.exit_status,
      exited_at: response.exited_at,
    });
    this.deps.log.info('container deleted', { id: container.id });
    return response;
  }

  async exec(req: Req<'ExecProcessRequest'>): Promise<void> {
    const container = this.container(req.id);
    let spec: unknown;
    try {
      spec = JSON.parse(Buffer.from(req.spec?.value ?? new Uint8Array()).toString() || '{}');
    } catch (err) {
      throw new ShimError('invalid-argument', 'exec spec is not valid JSON', { cause: err });
    }
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
      throw new ShimError('invalid-argument', 'exec spec is not a JSON object');
    }
    const stdio = {
      stdin: req.stdin,
      stdout: req.stdout,
      stderr: req.stderr,
      terminal: req.terminal,
    };
    container.addExec(req.exec_id, stdio, spec);
    this.deps.events.execAdded({ container_id: container.id, exec_id: req.exec_id });
    return Promise.resolve();
  }

  state(req: Req<'StateRequest'>): containerd.task.v2.StateResponse.$Properties {
    const [container, proc] = this.process(req.id, req.exec_id);
    let status = proc.status;
    if (
      proc !== container.init &&
      (container.init.status === 'paused' || container.init.status === 'pausing')
    ) {
      status = container.init.status;
    }
    return {
      id: proc.id,
      bundle: container.bundle,
      pid: proc.pid,
      status: toStatusEnum(status),
      stdin: proc.stdio.stdin,
      stdout: proc.stdio.stdout,
      stderr: proc.stdio.stderr,
      terminal: proc.stdio.terminal,
      exit_status: proc.exit?.status ?? 0,
      exited_at: proc.exit ? timestampFromDate(proc.exit.at) : GO_ZERO_TIME,
    };
  }

  async wait(req: Req<'WaitRequest'>): Promise<containerd.task.v2.WaitResponse.$Properties> {
    const [, proc] = this.process(req.id, req.exec_id);
    const exit = await proc.exited;
    return { exit_status: exit.status, exited_at: timestampFromDate(exit.at) };
  }

  async kill(req: Req<'KillRequest'>): Promise<void> {
    const [container, proc] = this.process(req.id, req.exec_id);
    if (req.exec_id === '') await container.kill(req.signal, req.all);
    else container.killExec(proc, req.signal);
  }

  async pids(req: Req<'PidsRequest'>): Promise<containerd.task.v2.PidsResponse.$Properties> {
    const container = this.container(req.id);
    const pids = await container.pids();
    const execByPid = new Map([...container.execs.values()].map((e) => [e.pid, e.id]));
    return {
      processes: pids.map((pid) => {
        const execId = execByPid.get(pid);
        if (execId === undefined) return { pid };
        return {
          pid,
          info: {
            type_url: 'containerd.runc.v1.ProcessDetails',
            value: runcOptions.runc.v1.ProcessDetails.encode({ exec_id: execId }).finish(),
          },
        };
      }),
    };
  }

  closeIO(req: Req<'CloseIORequest'>): void {
    const [, proc] = this.process(req.id, req.exec_id);
    proc.io?.closeStdin();
  }

  async pause(req: Req<'PauseRequest'>): Promise<void> {
    const container = this.container(req.id);
    await container.pause();
    this.deps.events.paused({ container_id: container.id });
  }

  async resume(req: Req<'ResumeRequest'>): Promise<void> {
    const container = this.container(req.id);
    await container.resume();
    this.deps.events.resumed({ container_id: container.id });
  }

  async update(req: Req<'UpdateTaskRequest'>): Promise<void> {
    const container = this.container(req.id);
    container.init.assertStatus('update', ['created', 'running', 'paused']);
    const json = Buffer.from(req.resources?.value ?? new Uint8Array()).toString();
    await container.runc.update(container.id, json === '' ? '{}' : json);
  }

  resizePty(req: Req<'ResizePtyRequest'>): void {
    const [container, proc] = this.process(req.id, req.exec_id);
    // As the reference: a stopped exec refuses, the init is not state-checked at all (no console,
    // or one already shut down at exit, is a no-op).
    if (proc !== container.init && proc.status === 'stopped')
      throw new ShimError('unknown', 'cannot resize a stopped container');
    proc.console?.resize(req.height, req.width);
  }

  async stats(req: Req<'StatsRequest'>): Promise<containerd.task.v2.StatsResponse.$Properties> {
    const container = this.container(req.id);
    const cg = this.#cgroups.get(container.id);
    if (!cg) throw new ShimError('not-found', 'cgroup does not exist');
    return { stats: await encodeMetrics(await cg.stats()) };
  }

  connect(req: Req<'ConnectRequest'>): containerd.task.v2.ConnectResponse.$Properties {
    return { shim_pid: process.pid, task_pid: this.#containers.get(req.id)?.init.pid ?? 0 };
  }

  shutdown(): void {
    if (this.#containers.size === 0) this.deps.onShutdown();
  }
}

/** The bundle's real path, so that aliases (symlinks, `//`) of one directory compare equal. */
function realBundle(bundle: string): string {
  try {
    return realpathSync(bundle);
  } catch {
    return bundle;
  }
}

function exitResponse(proc: Process): {
  pid: number;
  exit_status: number;
  exited_at: { seconds: number; nanos: number };
} {
  return {
    pid: proc.pid,
    exit_status: proc.exit?.status ?? 0,
    exited_at: proc.exit ? timestampFromDate(proc.exit.at) : GO_ZERO_TIME,
  };
}

function toStatusEnum(status: ProcessStatus): containerd.v1.types.Status {
  switch (status) {
    case 'created':
      return Status.CREATED;
    case 'running':
      return Status.RUNNING;
    case 'pausing':
      return Status.PAUSING;
    case 'paused':
      return Status.PAUSED;
    case 'stopped':
    case 'deleted':
      return Status.STOPPED;
  }
}

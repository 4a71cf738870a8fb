// A container: its init process, its execs, its rootfs and the OCI runtime that drives them.
// Knows nothing of ttrpc or events: the task layer decides what to publish.
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ShimError, errorCode } from '../base/errors.js';
import type { LoggerContext } from '../io/binary-logger.js';
import { Console } from '../io/console.js';
import { ProcessIO } from '../io/process-io.js';
import type { Stdio } from '../io/stdio.js';
import type { Monitor } from '../reaper/monitor.js';
import { Runc } from '../runtime/runc.js';
import { RuncError, killError } from '../runtime/errors.js';
import {
  bundleFiles,
  bundlePath,
  hasPrivatePidNamespace,
  readPidFile,
  readSpec,
  saveRuntimeOptions,
  runcConfig,
} from './bundle.js';
import { type CheckpointOptions, type RuntimeOptions } from './options.js';
import { checkId } from './ids.js';
import { Process, type ProcessHandover } from './process.js';
import { mountAll, unmountAll, type MountSpec } from './rootfs.js';

export interface CreateConfig {
  id: string;
  bundle: string;
  namespace: string;
  rootfs: MountSpec[];
  stdio: Stdio;
  options: RuntimeOptions;
  /** Checkpoint image to restore from at Start ('' = a plain create). */
  checkpoint?: string;
  parentCheckpoint?: string;
}

/**
 * Delete waits until the output copies have read the process's pipes to the end, however long it
 * takes while bytes move; it gives up only after this long with no byte moved, which happens only
 * when a leftover process that inherited a pipe keeps it open, or the client stopped reading (see
 * ProcessIO.drain). A time limit on the whole wait (the reference's 2 s in 1.6, 10 s in 2.x) loses
 * output on a starved machine. A console's drain (Console.drain) works the same way.
 */
const DRAIN_QUIET_MS = 10_000;

/** A container across a live upgrade (its processes' fds are inherited by number). */
export interface ContainerHandover {
  config: CreateConfig;
  runcFile: string;
  rootfsMounted: boolean;
  restorePending: boolean;
  runningExecs: number;
  initExited: boolean;
  init: ProcessHandover;
  execs: { process: ProcessHandover; spec: object }[];
}

export class Container {
  #init: Process;
  readonly execs = new Map<string, Process>();
  /** Execs started and not yet exited: the init exit is published only once this is 0. */
  runningExecs = 0;
  /** Set when the init exit has been seen; new execs may no longer start. */
  initExited = false;
  readonly privatePidNamespace: boolean;
  readonly #rootfsMounted: boolean;
  /** Created from a checkpoint: Start runs `runc restore` instead of `runc start`. */
  #restorePending: boolean;

  private constructor(
    readonly config: CreateConfig,
    readonly runc: Runc,
    rootfsMounted: boolean,
    /** Spawns binary:// loggers, so their exits are reaped with everything else. */
    private readonly monitor: Monitor,
  ) {
    this.#init = new Process(config.id, config.stdio, 'init');
    this.#rootfsMounted = rootfsMounted;
    this.#restorePending = (config.checkpoint ?? '') !== '';
    let privatePid = false;
    try {
      privatePid = hasPrivatePidNamespace(readSpec(config.bundle));
    } catch {
      // Unreadable spec: treat as shared, so leftovers get killed (as the reference does).
    }
    this.privatePidNamespace = privatePid;
  }

  /** Why this container cannot cross a live upgrade now, or undefined if it can. */
  handoverRefusal(): string | undefined {
    for (const proc of [this.init, ...this.execs.values()]) {
      const why = proc.handoverRefusal();
      if (why !== undefined) return `${this.id}${proc === this.init ? '' : `/${proc.id}`}: ${why}`;
    }
    return undefined;
  }

  /** Live upgrade: every process's stdio held still; true once nothing read is left unwritten. */
  quiesce(): boolean {
    let still = true;
    for (const proc of [this.init, ...this.execs.values()]) {
      if (proc.io && !proc.io.quiesce()) still = false;
    }
    return still;
  }

  unquiesce(): void {
    for (const proc of [this.init, ...this.execs.values()]) proc.io?.unquiesce();
  }

  handover(final: boolean): ContainerHandover {
    return {
      config: this.config,
      runcFile: this.runc.file,
      rootfsMounted: this.#rootfsMounted,
      restorePending: this.#restorePending,
      runningExecs: this.runningExecs,
      initExited: this.initExited,
      init: this.init.handover(final),
      execs: [...this.execs.values()].map((exec) => ({
        process: exec.handover(final),
        spec: this.#execSpecs.get(exec.id) ?? {},
      })),
    };
  }

  static adopt(state: ContainerHandover, monitor: Monitor): Container {
    const { config } = state;
    const runc = new Runc(
      runcConfig(config.options, config.namespace, config.bundle),
      monitor,
      state.runcFile,
    );
    const container = new Container(config, runc, state.rootfsMounted, monitor);
    container.#restorePending = state.restorePending;
    container.runningExecs = state.runningExecs;
    container.initExited = state.initExited;
    container.#init = Process.adopt(state.init);
    for (const { process: exec, spec } of state.execs) {
      container.execs.set(exec.id, Process.adopt(exec));
      container.#execSpecs.set(exec.id, spec);
    }
    return container;
  }

  get init(): Process {
    return this.#init;
  }

  get id(): string {
    return this.config.id;
  }

  get bundle(): string {
    return this.config.bundle;
  }

  /** True until a created-from-checkpoint container has been restored (its pid is 0 until then). */
  get restorePending(): boolean {
    return this.#restorePending;
  }

  /** The shim's working dir for this container: the bundle's `work` link (as the reference). */
  get workDir(): string {
    return join(this.bundle, 'work');
  }

  /** Mounts the rootfs, sets up stdio and runs `runc create`; undoes all of it on failure. */
  static async create(
    config: CreateConfig,
    monitor: Monitor,
    runcBinary: string,
  ): Promise<Container> {
    const { bundle } = config;
    const runc = new Runc(
      runcConfig(config.options, config.namespace, bundle),
      monitor,
      runcBinary,
    );
    saveRuntimeOptions(bundle, config.options);
    const rootfs = bundlePath(bundle, bundleFiles.rootfs);
    const mounted = config.rootfs.length > 0;
    if (mounted) mountAll(config.rootfs, rootfs);
    const container = new Container(config, runc, mounted, monitor);
    const createOpts = {
      bundle,
      pidFile: bundlePath(bundle, bundleFiles.initPid),
      noPivot: config.options.noPivotRoot,
      noNewKeyring: config.options.noNewKeyring,
    };
    try {
      if (container.restorePending) {
        // A restore only records its options here; the stdio waits for `runc restore` at Start
        // (a console only exists once runc sends its master).
        if (!config.stdio.terminal) {
          container.init.io = await container.openPipes(config.stdio, config.id);
        }
        return container;
      }
      if (config.stdio.terminal) {
        // The container gets the pty slave; we get the master through the console socket.
        container.init.io = await Console.receive(
          config.stdio,
          (consoleSocket) =>
            runc.create(config.id, { ...createOpts, consoleSocket, stdio: [-1, -1, -1] }),
          container.loggerContext(config.id),
        );
      } else {
        const io = await container.openPipes(config.stdio, config.id);
        container.init.io = io;
        await runc.create(config.id, { ...createOpts, stdio: io.childFds });
        io.started();
      }
      container.init.pid = readPidFile(bundlePath(bundle, bundleFiles.initPid));
      return container;
    } catch (err) {
      await container.init.io?.closeAndWait();
      await runc.delete(config.id, true).catch(() => undefined);
      if (mounted) await unmountAll(rootfs).catch(() => undefined);
      throw err;
    }
  }

  /** What a binary:// logger is told it logs (the container id, or the exec id for an exec). */
  private loggerContext(loggerId: string): LoggerContext {
    return { id: loggerId, namespace: this.config.namespace, spawner: this.monitor };
  }

  /** The pipe plumbing of one process. */
  private openPipes(stdio: Stdio, loggerId: string): Promise<ProcessIO> {
    return ProcessIO.open(
      stdio,
      { uid: this.config.options.ioUid, gid: this.config.options.ioGid },
      this.loggerContext(loggerId),
    );
  }

  async start(): Promise<void> {
    this.init.assertStatus('start', ['created']);
    if (this.#restorePending) {
      await this.restore();
      return;
    }
    await this.runc.start(this.id);
    if (this.init.status === 'created') this.init.status = 'running';
  }

  /** `runc restore --detach` of the recorded checkpoint; on failure it stays restorable. */
  private async restore(): Promise<void> {
    const pidFile = bundlePath(this.bundle, bundleFiles.initPid);
    const args = {
      imagePath: this.config.checkpoint ?? '',
      workPath: this.config.options.criuWorkPath || this.workDir,
      parentPath: this.config.parentCheckpoint ?? '',
      pidFile,
      bundle: this.bundle,
      noPivot: this.config.options.noPivotRoot,
    };
    if (this.config.stdio.terminal) {
      // As at create: the restored process gets a new pty, its master comes over the socket.
      this.init.io = await Console.receive(
        this.config.stdio,
        (consoleSocket) =>
          this.runc.restore(this.id, { ...args, consoleSocket, stdio: [-1, -1, -1] }),
        this.loggerContext(this.id),
      );
    } else {
      const io = this.init.pipes;
      await this.runc.restore(this.id, { ...args, stdio: io?.childFds ?? [-1, -1, -1] });
      io?.started();
    }
    this.#restorePending = false;
    this.init.pid = readPidFile(pidFile);
    if (this.init.status === 'created') this.init.status = 'running';
  }

  /**
   * `runc checkpoint` of the init. The default work dir `<work>/criu-work` is temporary; on
   * failure CRIU's dump.log is kept as `<bundle>/criu-dump.log` and named in the error.
   */
  async checkpoint(imagePath: string, opts: CheckpointOptions): Promise<void> {
    this.init.assertStatus('checkpoint', ['running', 'pausing', 'paused']);
    const work = opts.workPath || join(this.workDir, 'criu-work');
    try {
      await this.runc.checkpoint(this.id, { ...opts, imagePath, workPath: work });
    } catch (err) {
      const dumpLog = join(this.bundle, 'criu-dump.log');
      try {
        copyFileSync(join(work, 'dump.log'), dumpLog);
      } catch {
        // No dump.log (CRIU never ran): the message still names where it would be.
      }
      throw new ShimError(
        'unknown',
        `${criuError(err, this.runc.config.binary)} path= ${dumpLog}`,
        {
          cause: err,
        },
      );
    } finally {
      if (opts.workPath === '') rmSync(work, { recursive: true, force: true });
    }
  }

  /** Signals the init (or every process with `all`); NotFound once it is gone. */
  async kill(signal: number, all: boolean): Promise<void> {
    if (this.init.status === 'deleted') {
      throw new ShimError('not-found', 'cannot kill a deleted process');
    }
    if (this.init.status === 'stopped' && !all) {
      throw new ShimError('not-found', 'process already finished');
    }
    try {
      await this.runc.kill(this.id, signal, all);
    } catch (err) {
      throw killError(err);
    }
  }

  killExec(exec: Process, signal: number): void {
    if (exec.pid === 0) throw new ShimError('failed-precondition', 'process not created');
    if (exec.exit || exec.reaped) throw new ShimError('not-found', 'process already finished');
    try {
      process.kill(exec.pid, signal);
    } catch (err) {
      if (errorCode(err) === 'ESRCH') throw new ShimError('not-found', 'process already finished');
      throw killError(err);
    }
  }

  getExec(execId: string): Process {
    const exec = this.execs.get(execId);
    if (!exec) throw new ShimError('not-found', `process does not exist ${execId}`);
    return exec;
  }

  /** Reserves an exec id; the process is created, not started. */
  addExec(execId: string, stdio: Stdio, spec: object): Process {
    // The id names files in the bundle (startExec, deleteExec).
    checkId('exec', execId);
    if (this.execs.has(execId)) throw new ShimError('already-exists', `id ${execId}`);
    const status = this.init.status;
    if (this.#restorePending) throw new ShimError('unknown', 'cannot exec in a created state');
    if (status !== 'created' && status !== 'running') {
      throw new ShimError('unknown', `cannot exec in a ${status} state`);
    }
    const exec = new Process(execId, stdio, 'exec');
    this.execs.set(execId, exec);
    this.#execSpecs.set(execId, spec);
    return exec;
  }

  #execSpecs = new Map<string, object>();

  /** Runs `runc exec --detach`; the caller counts the exec as running before calling. */
  async startExec(exec: Process): Promise<void> {
    exec.assertStatus('start', ['created']);
    if (this.initExited) {
      throw new ShimError(
        'failed-precondition',
        `container ${this.id} init process is not running`,
      );
    }
    const spec = this.#execSpecs.get(exec.id) ?? {};
    const processPath = join(this.bundle, `.${exec.id}.process.json`);
    const pidFile = bundlePath(this.bundle, `${exec.id}.pid`);
    try {
      writeFileSync(processPath, JSON.stringify({ ...spec, terminal: exec.stdio.terminal }), {
        mode: 0o600,
      });
      if (exec.stdio.terminal) {
        exec.io = await Console.receive(
          exec.stdio,
          (consoleSocket) =>
            this.runc.exec(this.id, { processPath, pidFile, consoleSocket, stdio: [-1, -1, -1] }),
          this.loggerContext(exec.id),
        );
      } else {
        // The reference names an exec's binary logger by the exec id.
        const io = await this.openPipes(exec.stdio, exec.id);
        exec.io = io;
        await this.runc.exec(this.id, { processPath, pidFile, stdio: io.childFds });
        io.started();
      }
      exec.pid = readPidFile(pidFile);
      if (!exec.exit) exec.status = 'running';
    } catch (err) {
      await exec.io?.closeAndWait();
      exec.io = undefined;
      throw err;
    } finally {
      rmSync(processPath, { force: true });
    }
  }

  async deleteExec(exec: Process): Promise<void> {
    exec.assertStatus('delete', ['created', 'stopped']);
    await exec.io?.drain(DRAIN_QUIET_MS);
    await exec.io?.closeAndWait();
    exec.status = 'deleted';
    this.execs.delete(exec.id);
    this.#execSpecs.delete(exec.id);
    rmSync(bundlePath(this.bundle, `${exec.id}.pid`), { force: true });
  }

  /** Init Delete: drains stdio, removes the runtime container, unmounts the rootfs. */
  async delete(): Promise<void> {
    this.init.assertStatus('delete', ['created', 'stopped']);
    await this.init.io?.drain(DRAIN_QUIET_MS);
    try {
      await this.runc.delete(this.id, this.init.status === 'created');
    } catch (err) {
      // Already gone is fine; anything else is retried with --force before giving up.
      if (!/does not exist|not found/.test(String(err))) {
        await this.runc.delete(this.id, true).catch(() => undefined);
      }
    }
    await Promise.all([
      this.init.io?.closeAndWait(),
      ...[...this.execs.values()].map((exec) => exec.io?.closeAndWait()),
    ]);
    if (this.#rootfsMounted) await unmountAll(bundlePath(this.bundle, bundleFiles.rootfs));
    this.init.status = 'deleted';
  }

  async pause(): Promise<void> {
    this.init.assertStatus('pause', ['running']);
    this.init.status = 'pausing';
    try {
      await this.runc.pause(this.id);
      this.init.status = 'paused';
    } catch (err) {
      if (this.init.status === 'pausing') this.init.status = 'running';
      throw err;
    }
  }

  async resume(): Promise<void> {
    this.init.assertStatus('resume', ['paused']);
    await this.runc.resume(this.id);
    if (this.init.status === 'paused') this.init.status = 'running';
  }

  async pids(): Promise<number[]> {
    return this.runc.ps(this.id);
  }
}

/** go-runc's wording, cut to its first line as the reference does. */
function criuError(err: unknown, binary: string): string {
  const text =
    err instanceof RuncError
      ? `${binary} did not terminate successfully: exit status ${String(err.exitStatus)}: ${err.stderr}`
      : err instanceof Error
        ? err.message
        : String(err);
  return text.split('\n')[0] ?? '';
}

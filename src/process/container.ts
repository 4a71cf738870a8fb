// A container: its init process, its execs, its rootfs and the OCI runtime that drives them.
// Knows nothing of ttrpc or events: the task layer decides what to publish.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ShimError, errorCode } from '../base/errors.js';
import { ProcessIO } from '../io/process-io.js';
import type { Stdio } from '../io/stdio.js';
import type { Monitor } from '../reaper/monitor.js';
import { Runc } from '../runtime/runc.js';
import { killError } from '../runtime/errors.js';
import {
  bundleFiles,
  bundlePath,
  hasPrivatePidNamespace,
  readPidFile,
  readSpec,
  saveRuntimeOptions,
} from './bundle.js';
import { runcRoot, type RuntimeOptions } from './options.js';
import { Process } from './process.js';
import { mountAll, unmountAll, type MountSpec } from './rootfs.js';

export interface CreateConfig {
  id: string;
  bundle: string;
  namespace: string;
  rootfs: MountSpec[];
  stdio: Stdio;
  options: RuntimeOptions;
}

/** How long Delete waits for output copies to drain (containerd 1.6's reference waits 2 s). */
const DRAIN_TIMEOUT_MS = 2000;

export class Container {
  readonly init: Process;
  readonly execs = new Map<string, Process>();
  /** Execs started and not yet exited: the init exit is published only once this is 0. */
  runningExecs = 0;
  /** Set when the init exit has been seen; new execs may no longer start. */
  initExited = false;
  readonly privatePidNamespace: boolean;
  readonly #rootfsMounted: boolean;

  private constructor(
    readonly config: CreateConfig,
    readonly runc: Runc,
    rootfsMounted: boolean,
    /** Spawns binary:// loggers, so their exits are reaped with everything else. */
    private readonly monitor: Monitor,
  ) {
    this.init = new Process(config.id, config.stdio);
    this.#rootfsMounted = rootfsMounted;
    let privatePid = false;
    try {
      privatePid = hasPrivatePidNamespace(readSpec(config.bundle));
    } catch {
      // Unreadable spec: treat as shared, so leftovers get killed (as the reference does).
    }
    this.privatePidNamespace = privatePid;
  }

  get id(): string {
    return this.config.id;
  }

  get bundle(): string {
    return this.config.bundle;
  }

  /** Mounts the rootfs, sets up stdio and runs `runc create`; undoes all of it on failure. */
  static async create(
    config: CreateConfig,
    monitor: Monitor,
    runcBinary: string,
  ): Promise<Container> {
    const { bundle } = config;
    const runc = new Runc(
      {
        binary: config.options.binaryName || 'runc',
        root: runcRoot(config.options, config.namespace),
        logPath: bundlePath(bundle, bundleFiles.runcLog),
        systemdCgroup: config.options.systemdCgroup,
      },
      monitor,
      runcBinary,
    );
    saveRuntimeOptions(bundle, config.options);
    const rootfs = bundlePath(bundle, bundleFiles.rootfs);
    const mounted = config.rootfs.length > 0;
    if (mounted) mountAll(config.rootfs, rootfs);
    const container = new Container(config, runc, mounted, monitor);
    let io: ProcessIO | undefined;
    try {
      io = await ProcessIO.open(
        config.stdio,
        { uid: config.options.ioUid, gid: config.options.ioGid },
        { id: config.id, namespace: config.namespace, spawner: monitor },
      );
      container.init.io = io;
      if (config.stdio.terminal) {
        throw new ShimError('not-implemented', 'terminal (console socket) support');
      }
      await runc.create(config.id, {
        bundle,
        pidFile: bundlePath(bundle, bundleFiles.initPid),
        noPivot: config.options.noPivotRoot,
        noNewKeyring: config.options.noNewKeyring,
        stdio: io.childFds,
      });
      io.closeChildEnds();
      container.init.pid = readPidFile(bundlePath(bundle, bundleFiles.initPid));
      return container;
    } catch (err) {
      await io?.closeAndWait();
      await runc.delete(config.id, true).catch(() => undefined);
      if (mounted) await unmountAll(rootfs).catch(() => undefined);
      throw err;
    }
  }

  async start(): Promise<void> {
    this.init.assertStatus('start', ['created']);
    await this.runc.start(this.id);
    if (this.init.status === 'created') this.init.status = 'running';
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
    if (exec.exit) throw new ShimError('not-found', 'process already finished');
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
    if (this.execs.has(execId)) throw new ShimError('already-exists', `id ${execId}`);
    const status = this.init.status;
    if (status !== 'created' && status !== 'running') {
      throw new ShimError('unknown', `cannot exec in a ${status} state`);
    }
    const exec = new Process(execId, stdio);
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
    let io: ProcessIO | undefined;
    try {
      writeFileSync(processPath, JSON.stringify({ ...spec, terminal: exec.stdio.terminal }), {
        mode: 0o600,
      });
      if (exec.stdio.terminal) {
        throw new ShimError('not-implemented', 'terminal (console socket) support');
      }
      // The reference names an exec's logger by the exec id.
      io = await ProcessIO.open(
        exec.stdio,
        { uid: this.config.options.ioUid, gid: this.config.options.ioGid },
        { id: exec.id, namespace: this.config.namespace, spawner: this.monitor },
      );
      exec.io = io;
      await this.runc.exec(this.id, { processPath, pidFile, stdio: io.childFds });
      io.closeChildEnds();
      exec.pid = readPidFile(pidFile);
      if (!exec.exit) exec.status = 'running';
    } catch (err) {
      await io?.closeAndWait();
      exec.io = undefined;
      throw err;
    } finally {
      rmSync(processPath, { force: true });
    }
  }

  async deleteExec(exec: Process): Promise<void> {
    exec.assertStatus('delete', ['created', 'stopped']);
    await exec.io?.drain(DRAIN_TIMEOUT_MS);
    await exec.io?.closeAndWait();
    exec.status = 'deleted';
    this.execs.delete(exec.id);
    this.#execSpecs.delete(exec.id);
    rmSync(bundlePath(this.bundle, `${exec.id}.pid`), { force: true });
  }

  /** Init Delete: drains stdio, removes the runtime container, unmounts the rootfs. */
  async delete(): Promise<void> {
    this.init.assertStatus('delete', ['created', 'stopped']);
    await this.init.io?.drain(DRAIN_TIMEOUT_MS);
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

// The Monitor is the one owner of the shim's children and of wait4(-1). The shim never uses
// child_process: libuv reaps only what it spawned, and a global wait4 would steal those statuses
// (its exit callbacks would then never fire). So every child is spawned here (native posix_spawn),
// and as child subreaper we also reap re-parented orphans (container inits, exec processes) and
// hand every exit to subscribers.
import { Socket } from 'node:net';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { readToEnd } from '../io/fds.js';
import { native } from '../native/index.js';
import type { Exit } from './exit.js';

export interface Disposable {
  dispose(): void;
}

export interface MonitorSpawnOptions {
  file: string;
  argv: string[];
  env?: string[];
  cwd?: string;
  fds?: number[];
  setsid?: boolean;
}

export interface RunOptions {
  file: string;
  args: string[];
  env?: string[];
  cwd?: string;
  input?: string | Buffer;
}

export interface RunResult {
  status: number;
  stdout: Buffer;
  stderr: Buffer;
}

const currentEnv = (): string[] => Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);

export class Monitor {
  readonly #subscribers = new Set<(exit: Exit) => void>();
  readonly #waiters = new Map<number, (exit: Exit) => void>();
  readonly #onSignal = (): void => {
    this.reap();
  };
  #started = false;
  #paused = false;
  /**
   * Ref'd while someone awaits an exit: Node's signal handles do not keep the loop alive, so
   * without it a process waiting only for SIGCHLD would end early. It also re-reaps, as a net.
   */
  #keepAlive: NodeJS.Timeout | undefined;

  /**
   * Starts reaping on SIGCHLD; as child subreaper (a daemon, whose containers' orphans are its
   * own), unless told otherwise (a process that only runs commands).
   */
  start({ subreaper = true }: { subreaper?: boolean } = {}): void {
    if (this.#started) return;
    this.#started = true;
    if (subreaper) native.setChildSubreaper();
    process.on('SIGCHLD', this.#onSignal);
    this.reap();
  }

  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    process.off('SIGCHLD', this.#onSignal);
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }

  /** Every exit, including orphans nobody spawned through us. */
  subscribe(fn: (exit: Exit) => void): Disposable {
    this.#subscribers.add(fn);
    return { dispose: () => this.#subscribers.delete(fn) };
  }

  /**
   * Stops reaping (a live upgrade hands over): exits from here on stay zombies, for whichever
   * process image runs next to reap. resume() reaps them if the upgrade is called off.
   */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.reap();
  }

  /** Reaps every exited child; one SIGCHLD may stand for several exits. */
  reap(): void {
    if (this.#paused) return;
    for (const child of native.reapAll()) {
      const exit: Exit = { pid: child.pid, status: child.status, at: new Date() };
      const waiter = this.#waiters.get(child.pid);
      this.#waiters.delete(child.pid);
      waiter?.(exit);
      if (this.#waiters.size === 0 && this.#keepAlive) {
        clearInterval(this.#keepAlive);
        this.#keepAlive = undefined;
      }
      for (const fn of this.#subscribers) fn(exit);
    }
  }

  /** Spawns a child; its waiter is registered before any exit can be reaped. */
  spawn(opts: MonitorSpawnOptions): { pid: number; exited: Promise<Exit> } {
    const pid = native.spawn({
      file: opts.file,
      argv: opts.argv,
      env: opts.env ?? currentEnv(),
      fds: opts.fds ?? [-1, -1, -1],
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      ...(opts.setsid === undefined ? {} : { setsid: opts.setsid }),
    });
    const exited = new Promise<Exit>((resolve) => this.#waiters.set(pid, resolve));
    this.#keepAlive ??= setInterval(() => {
      this.reap();
    }, 1000);
    // A SIGCHLD may already be pending for a very fast child: reap on the next tick too.
    setImmediate(() => {
      this.reap();
    });
    return { pid, exited };
  }

  /** Runs a command with captured stdout/stderr; resolves after the exit and both EOFs. */
  async run(opts: RunOptions): Promise<RunResult> {
    const fds: number[] = [];
    try {
      const [inR, inW] = native.pipe();
      fds.push(inR, inW);
      const [outR, outW] = native.pipe();
      fds.push(outR, outW);
      const [errR, errW] = native.pipe();
      fds.push(errR, errW);
      const child = this.spawn({
        file: opts.file,
        argv: [opts.file, ...opts.args],
        fds: [inR, outW, errW],
        ...(opts.env === undefined ? {} : { env: opts.env }),
        ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      });
      for (const fd of [inR, outW, errW]) native.closeFd(fd);
      fds.length = 0;
      const stdin = new Socket({ fd: inW, readable: false, writable: true });
      stdin.on('error', () => undefined);
      stdin.end(opts.input ?? '');
      const [stdout, stderr, exit] = await Promise.all([
        readToEnd(outR),
        readToEnd(errR),
        child.exited,
      ]);
      return { status: exit.status, stdout, stderr };
    } catch (err) {
      for (const fd of fds) native.closeFd(fd);
      throw err;
    }
  }
}

/**
 * Starts a process that is not ours to reap: a new session whose parent is init, as a shim daemon
 * must be (the intermediate child is reaped inside the call).
 */
export function spawnDetached(opts: {
  file: string;
  argv: string[];
  env: string[];
  cwd?: string;
  fds: number[];
}): number {
  return native.spawnDetached(opts);
}

/** PATH lookup done here, so spawning never searches (posix_spawn gets an absolute path). */
export function resolveExecutable(name: string, path = process.env['PATH'] ?? ''): string {
  if (name.includes('/')) return name;
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next directory
    }
  }
  for (const dir of [
    '/usr/local/sbin',
    '/usr/local/bin',
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
  ]) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // next
    }
  }
  throw Object.assign(new Error(`executable file not found in $PATH: ${name}`), { code: 'ENOENT' });
}

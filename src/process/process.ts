// One process of a container (the init or an exec): its state, exit bookkeeping and stdio.
import { Deferred } from '../base/deferred.js';
import { ShimError } from '../base/errors.js';
import { Console, type ConsoleHandover } from '../io/console.js';
import { ProcessIO, type PipesHandover } from '../io/process-io.js';
import type { Stdio } from '../io/stdio.js';

export type ProcessStatus = 'created' | 'running' | 'pausing' | 'paused' | 'stopped' | 'deleted';

export interface ExitInfo {
  status: number;
  at: Date;
}

export type ProcessRole = 'init' | 'exec';

/**
 * How the reference words the init's state errors where it departs from the generic
 * "cannot <op> a <state> process" (its init_state.go); users and tests match on these texts.
 */
const INIT_STATE_ERRORS: Partial<Record<ProcessStatus, Record<string, string>>> = {
  created: {
    pause: 'cannot pause task in created state',
    resume: 'cannot resume task in created state',
    checkpoint: 'cannot checkpoint a task in created state',
  },
  paused: { pause: 'cannot pause a paused container' },
  stopped: {
    pause: 'cannot pause a stopped container',
    resume: 'cannot resume a stopped container',
    update: 'cannot update a stopped container',
    checkpoint: 'cannot checkpoint a stopped container',
  },
};

/** A process across a live upgrade. */
export interface ProcessHandover {
  id: string;
  role: ProcessRole;
  stdio: Stdio;
  pid: number;
  status: ProcessStatus;
  exit: { status: number; at: string } | undefined;
  io: PipesHandover | ConsoleHandover | undefined;
}

export class Process {
  pid = 0;
  status: ProcessStatus = 'created';
  exit: ExitInfo | undefined;
  /** An exec reaped: its pid is no longer its own, though `exit` waits until its output is read. */
  reaped = false;
  /** Pipes to the FIFOs, or the pty console when the process has a terminal. */
  io: ProcessIO | Console | undefined;
  readonly #exited = new Deferred<ExitInfo>();

  constructor(
    /** Container id for the init process, exec id for an exec. */
    readonly id: string,
    readonly stdio: Stdio,
    readonly role: ProcessRole,
  ) {}

  get exited(): Promise<ExitInfo> {
    return this.#exited.promise;
  }

  /** Records the exit once; Wait callers are released. */
  setExited(status: number, at: Date): void {
    if (this.exit) return;
    this.exit = { status, at };
    this.status = 'stopped';
    // As the reference: the console goes with the process (after its output is drained).
    this.console?.shutdown();
    this.#exited.resolve(this.exit);
  }

  /** Why this process cannot cross a live upgrade, or undefined if it can. */
  handoverRefusal(): string | undefined {
    return this.io?.handoverRefusal();
  }

  handover(final: boolean): ProcessHandover {
    return {
      id: this.id,
      role: this.role,
      stdio: this.stdio,
      pid: this.pid,
      status: this.status,
      exit: this.exit ? { status: this.exit.status, at: this.exit.at.toISOString() } : undefined,
      io: this.io?.handover(final),
    };
  }

  static adopt(state: ProcessHandover): Process {
    const proc = new Process(state.id, state.stdio, state.role);
    proc.pid = state.pid;
    if (state.io) {
      proc.io = state.io.kind === 'console' ? Console.adopt(state.io) : ProcessIO.adopt(state.io);
    }
    proc.status = state.status;
    if (state.exit) {
      proc.exit = { status: state.exit.status, at: new Date(state.exit.at) };
      proc.#exited.resolve(proc.exit);
    }
    return proc;
  }

  get console(): Console | undefined {
    return this.io instanceof Console ? this.io : undefined;
  }

  /** The pipe plumbing, when the process has no terminal. */
  get pipes(): ProcessIO | undefined {
    return this.io instanceof Console ? undefined : this.io;
  }

  /** Throws the reference shim's error for an operation not allowed in the current state. */
  assertStatus(op: string, allowed: readonly ProcessStatus[]): void {
    if (allowed.includes(this.status)) return;
    if (this.status === 'deleted') throw new ShimError('not-found', `process ${this.id} deleted`);
    const worded = this.role === 'init' ? INIT_STATE_ERRORS[this.status]?.[op] : undefined;
    throw new ShimError('unknown', worded ?? `cannot ${op} a ${this.status} process`);
  }
}

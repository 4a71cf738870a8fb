// One process of a container (the init or an exec): its state, exit bookkeeping and stdio.
import { Deferred } from '../base/deferred.js';
import { ShimError } from '../base/errors.js';
import { Console } from '../io/console.js';
import type { ProcessIO } from '../io/process-io.js';
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

export class Process {
  pid = 0;
  status: ProcessStatus = 'created';
  exit: ExitInfo | undefined;
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

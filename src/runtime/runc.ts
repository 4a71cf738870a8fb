// Driver for the OCI runtime binary (runc, or crun through the runc options' binary_name). Every
// invocation goes through the reaper Monitor, which owns all children of the shim.
import { access, readFile } from 'node:fs/promises';
import { errorCode, errorMessage } from '../base/errors.js';
import type { Monitor } from '../reaper/monitor.js';
import { RuncError } from './errors.js';

export interface RuncConfig {
  /** Binary name or absolute path; resolved with PATH. */
  binary: string;
  /** State root, already including the namespace (`<root>/<ns>`). */
  root: string;
  /** runc's `--log` file (JSON lines); its last error is used in error messages. */
  logPath: string;
  systemdCgroup: boolean;
  /** CRIU binary for `--criu`; '' or absent lets runc pick. */
  criu?: string;
  /** runc's environment; absent means the shim's own. */
  env?: string[];
}

/** Child stdio: fd numbers for the container's 0/1/2 (-1 = /dev/null). */
export type StdioFds = [number, number, number];

export interface CreateOptions {
  bundle: string;
  pidFile: string;
  consoleSocket?: string | undefined;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  stdio: StdioFds;
}

export interface ExecOptions {
  processPath: string;
  pidFile: string;
  consoleSocket?: string | undefined;
  stdio: StdioFds;
}

export interface CheckpointArgs {
  imagePath: string;
  workPath: string;
  /** Stop the container after the dump (no `--leave-running`). */
  exit: boolean;
  openTcp: boolean;
  externalUnixSockets: boolean;
  terminal: boolean;
  fileLocks: boolean;
  emptyNamespaces: string[];
}

export interface RestoreArgs {
  imagePath: string;
  /** '' omits `--work-path`. */
  workPath: string;
  parentPath: string;
  pidFile: string;
  bundle: string;
  consoleSocket?: string | undefined;
  noPivot: boolean;
  stdio: StdioFds;
}

/** `checkpoint` arguments in go-runc's order: options, then the `--leave-running` action. */
export function checkpointArgv(id: string, o: CheckpointArgs): string[] {
  const args = ['checkpoint', '--image-path', o.imagePath, '--work-path', o.workPath];
  if (o.openTcp) args.push('--tcp-established');
  if (o.externalUnixSockets) args.push('--ext-unix-sk');
  if (o.terminal) args.push('--shell-job');
  if (o.fileLocks) args.push('--file-locks');
  for (const ns of o.emptyNamespaces) args.push('--empty-ns', ns);
  if (!o.exit) args.push('--leave-running');
  return [...args, id];
}

/** `restore` arguments exactly as go-runc builds them (its `-no-subreaper` has one dash). */
export function restoreArgv(id: string, o: RestoreArgs): string[] {
  const args = ['restore', '--image-path', o.imagePath];
  if (o.workPath !== '') args.push('--work-path', o.workPath);
  if (o.parentPath !== '') args.push('--parent-path', o.parentPath);
  args.push('--detach', '--pid-file', o.pidFile);
  if (o.consoleSocket !== undefined) args.push('--console-socket', o.consoleSocket);
  if (o.noPivot) args.push('--no-pivot');
  args.push('-no-subreaper', '--bundle', o.bundle, id);
  return args;
}

/** Go's text for the errnos a failed spawn gives. */
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ENOEXEC: 'exec format error',
  ENOTDIR: 'not a directory',
};

export class Runc {
  readonly #file: string;

  constructor(
    readonly config: RuncConfig,
    private readonly monitor: Monitor,
    resolvedBinary: string,
  ) {
    this.#file = resolvedBinary;
  }

  /** The resolved binary this driver runs. */
  get file(): string {
    return this.#file;
  }

  private globalArgs(): string[] {
    const args = ['--root', this.config.root, '--log', this.config.logPath, '--log-format', 'json'];
    if (this.config.criu !== undefined && this.config.criu !== '') {
      args.push('--criu', this.config.criu);
    }
    if (this.config.systemdCgroup) args.push('--systemd-cgroup');
    return args;
  }

  /** Runs a command whose output we capture; throws RuncError when it fails. */
  private async run(args: string[], input?: string): Promise<Buffer> {
    const argv = [...this.globalArgs(), ...args];
    const result = await this.monitor
      .run({
        file: this.#file,
        args: argv,
        ...(this.config.env === undefined ? {} : { env: this.config.env }),
        ...(input === undefined ? {} : { input }),
      })
      .catch(async (err: unknown) => {
        throw await this.notStarted(err, argv, args[0]);
      });
    if (result.status !== 0) {
      throw new RuncError(
        argv,
        result.status,
        result.stderr.toString(),
        await lastLogError(this.config.logPath),
        args[0],
      );
    }
    return result.stdout;
  }

  /** Runs a command whose stdio belongs to the container (create, exec). */
  private async runWithStdio(args: string[], stdio: StdioFds): Promise<void> {
    const argv = [...this.globalArgs(), ...args];
    let child: { exited: Promise<{ status: number }> };
    try {
      child = this.monitor.spawn({
        file: this.#file,
        argv: [this.#file, ...argv],
        fds: stdio,
        ...(this.config.env === undefined ? {} : { env: this.config.env }),
      });
    } catch (err) {
      throw await this.notStarted(err, argv, args[0]);
    }
    const exit = await child.exited;
    if (exit.status !== 0) {
      throw new RuncError(argv, exit.status, '', await lastLogError(this.config.logPath), args[0]);
    }
  }

  /**
   * The runtime binary could not be started (missing, not executable): worded as go-runc words
   * it, which the reference quotes, e.g. `fork/exec /x/runc: no such file or directory`.
   */
  private async notStarted(err: unknown, argv: string[], command?: string): Promise<RuncError> {
    const code = errorCode(err);
    const reason = code ? (ERRNO_TEXT[code] ?? errorMessage(err)) : errorMessage(err);
    let prefix = '';
    try {
      await access(this.config.logPath);
    } catch (logErr) {
      const logCode = errorCode(logErr);
      const why = logCode ? (ERRNO_TEXT[logCode] ?? logCode) : errorMessage(logErr);
      prefix = `unable to retrieve OCI runtime error (open ${this.config.logPath}: ${why}): `;
    }
    return new RuncError(argv, -1, `${prefix}fork/exec ${this.#file}: ${reason}`, '', command);
  }

  async create(id: string, opts: CreateOptions): Promise<void> {
    const args = ['create', '--bundle', opts.bundle, '--pid-file', opts.pidFile];
    if (opts.consoleSocket !== undefined) args.push('--console-socket', opts.consoleSocket);
    if (opts.noPivot === true) args.push('--no-pivot');
    if (opts.noNewKeyring === true) args.push('--no-new-keyring');
    await this.runWithStdio([...args, id], opts.stdio);
  }

  /** CRIU dump; output is captured so a failure can quote CRIU's first line. */
  async checkpoint(id: string, opts: CheckpointArgs): Promise<void> {
    await this.run(checkpointArgv(id, opts));
  }

  /** CRIU restore, detached; the restored process gets the container's stdio. */
  async restore(id: string, opts: RestoreArgs): Promise<void> {
    await this.runWithStdio(restoreArgv(id, opts), opts.stdio);
  }

  async start(id: string): Promise<void> {
    await this.run(['start', id]);
  }

  async exec(id: string, opts: ExecOptions): Promise<void> {
    const args = ['exec', '--process', opts.processPath, '--detach', '--pid-file', opts.pidFile];
    if (opts.consoleSocket !== undefined) args.push('--console-socket', opts.consoleSocket);
    await this.runWithStdio([...args, id], opts.stdio);
  }

  async kill(id: string, signal: number, all: boolean): Promise<void> {
    await this.run(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  async delete(id: string, force: boolean): Promise<void> {
    await this.run(['delete', ...(force ? ['--force'] : []), id]);
  }

  async pause(id: string): Promise<void> {
    await this.run(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(['resume', id]);
  }

  async update(id: string, resourcesJson: string): Promise<void> {
    await this.run(['update', '--resources', '-', id], resourcesJson);
  }

  /** Pids in the container's cgroup. */
  async ps(id: string): Promise<number[]> {
    const out = await this.run(['ps', '--format', 'json', id]);
    const parsed: unknown = JSON.parse(out.toString() || '[]');
    return Array.isArray(parsed) ? parsed.filter((p): p is number => typeof p === 'number') : [];
  }
}

/** The `msg` of the last error-level line in runc's JSON log, or ''. */
export async function lastLogError(logPath: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(logPath, 'utf8');
  } catch {
    return '';
  }
  const lines = text.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const entry = JSON.parse(lines[i] ?? '') as { level?: unknown; msg?: unknown };
      if (entry.level === 'error' && typeof entry.msg === 'string') return entry.msg;
    } catch {
      // not JSON: skip
    }
  }
  return '';
}

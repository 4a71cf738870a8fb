// What `doctor` observes on this machine, gathered in one place so the checks can stay pure.
import { accessSync, constants, existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse } from 'smol-toml';

export interface Tool {
  /** The first line of its `--version`, or undefined when it cannot run. */
  version: string | undefined;
}

export interface Facts {
  nodeVersion: string;
  runc: Tool;
  crun: Tool;
  containerd: Tool;
  /** containerd's PATH (the running containerd's, else ours, unless given). */
  containerdPath: string;
  /** Which of our executables each name resolves to on that PATH ('' when none). */
  shimOnPath: Record<string, string>;
  configPath: string;
  /** The parsed config, undefined when there is none; a string when it does not parse. */
  config: Record<string, unknown> | string | undefined;
  /** 'v2' (unified), 'hybrid' (v1 with the v2 unified mount), 'v1', or 'none'. */
  cgroupMode: string;
  /** The shim socket directory: absent, or its owner and mode. */
  socketDir: { exists: false } | { exists: true; uid: number; mode: number };
  /** `criu check`: undefined when there is no criu; else its verdict. */
  criu: { ok: boolean; detail: string } | undefined;
}

export const SHIM_NAMES = ['containerd-shim-tsshim-v2', 'containerd-shim-ts-v2'];

async function tool(file: string): Promise<Tool> {
  const r = await execa(file, ['--version'], { reject: false });
  if (r.exitCode !== 0 || r.failed) return { version: undefined };
  return { version: r.stdout.split('\n')[0]?.trim() ?? '' };
}

/** The PATH of the running containerd (a process named containerd), if we can read it. */
function runningContainerdPath(): string | undefined {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'containerd') continue;
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const path = env.find((e) => e.startsWith('PATH='));
      if (path !== undefined) return path.slice(5);
    } catch {
      // Gone, or not ours to read.
    }
  }
  return undefined;
}

function onPath(name: string, path: string): string {
  for (const dir of path.split(':').filter((d) => d !== '')) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not here.
    }
  }
  return '';
}

function cgroupMode(): string {
  try {
    if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'v2';
    if (existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) return 'hybrid';
    if (existsSync('/sys/fs/cgroup/memory')) return 'v1';
  } catch {
    // Unreadable: none.
  }
  return 'none';
}

function readConfig(path: string): Facts['config'] {
  if (!existsSync(path)) return undefined;
  try {
    return parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return err instanceof Error ? (err.message.split('\n')[0] ?? 'unreadable') : String(err);
  }
}

export interface FactOptions {
  configPath: string;
  containerdPath: string | undefined;
  runc: string;
  criu: string;
}

export async function gatherFacts(opts: FactOptions): Promise<Facts> {
  const containerdPath =
    opts.containerdPath ?? runningContainerdPath() ?? process.env['PATH'] ?? '';
  const [runc, crun, containerd, criuRun] = await Promise.all([
    tool(opts.runc),
    tool('crun'),
    tool('containerd'),
    execa(opts.criu, ['check'], { reject: false, all: true }),
  ]);
  let socketDir: Facts['socketDir'] = { exists: false };
  if (existsSync('/run/containerd/s')) {
    const st = lstatSync('/run/containerd/s');
    socketDir = { exists: true, uid: st.uid, mode: st.mode & 0o777 };
  }
  const criuMissing = criuRun.failed && criuRun.exitCode === undefined;
  return {
    nodeVersion: process.versions.node,
    runc,
    crun,
    containerd,
    containerdPath,
    shimOnPath: Object.fromEntries(SHIM_NAMES.map((n) => [n, onPath(n, containerdPath)])),
    configPath: opts.configPath,
    config: readConfig(opts.configPath),
    cgroupMode: cgroupMode(),
    socketDir,
    criu: criuMissing
      ? undefined
      : {
          ok: criuRun.exitCode === 0,
          detail:
            criuRun.all
              .split('\n')
              .filter((l) => l.startsWith('Error'))
              .at(-1) ?? '',
        },
  };
}

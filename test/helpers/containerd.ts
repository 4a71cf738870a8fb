// A private containerd for tests: its own root, state, sockets and config under a temp dir, with
// our bin/ first on its PATH so it finds containerd-shim-tsshim-v2. Never the system instance.
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canConnect, commandLine, mountsUnder, processesMatching, waitFor } from './leaks.js';
import { EXPECT_HOLD_MS } from '../../src/shim/expected.js';
import { native } from '../../src/native/index.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Debian's 1.6.20 (the system's binaries), or containerd's own release builds kept as test tools. */
export type ContainerdVersion = '1.6' | '1.7' | '2.1';

/** The test tools' folder: SHIM_TEST_TOOLS, else next to the repository. */
const TEST_TOOLS = process.env['SHIM_TEST_TOOLS'] ?? join(REPO, '../shared/test-tools');

/** Whether containerd 1.7 and 2.1 can run here (the test tools are present). */
export function testToolsAvailable(): boolean {
  return existsSync(join(TEST_TOOLS, 'use.sh'));
}

/** The bin dir of a containerd version (its containerd, ctr and reference shim); '' for Debian's. */
export function containerdBin(version: ContainerdVersion): string {
  if (version === '1.6') return '';
  const r = spawnSync(join(TEST_TOOLS, 'use.sh'), [version], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`containerd ${version}: test tools not found in ${TEST_TOOLS}: ${r.stderr}`);
  }
  return r.stdout.trim();
}

/**
 * The test tools' CRIU (Debian's cannot dump on some kernels): its bin dir, or '' without the
 * test tools. runc runs the `criu` first on its PATH, which it inherits from containerd.
 */
export function criuBin(): string {
  if (!testToolsAvailable()) return '';
  const r = spawnSync(join(TEST_TOOLS, 'use.sh'), ['criu'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** The version a suite runs against: SHIM_TEST_CONTAINERD, default Debian's 1.6. */
export function defaultVersion(): ContainerdVersion {
  const v = process.env['SHIM_TEST_CONTAINERD'] ?? '1.6';
  if (v !== '1.6' && v !== '1.7' && v !== '2.1') throw new Error(`SHIM_TEST_CONTAINERD=${v}?`);
  return v;
}

/** containerd's config: version 2 for 1.x, version 3 (CRI split in two plugins) for 2.x. */
function configText(
  version: ContainerdVersion,
  p: Record<string, string>,
  cri?: CriConfig,
): string {
  const plugin = version === '2.1' ? 'io.containerd.cri.v1.runtime' : 'io.containerd.grpc.v1.cri';
  // CRI suites: a local pause image (1.x names it in the CRI plugin, 2.x pins it in the images
  // plugin), CNI dirs of the test's own, never the host's (2.1 takes a list of bin dirs), and
  // pods' network namespaces under the state dir rather than the host's /var/run/netns.
  const sandboxImage = cri && version !== '2.1' ? `\n  sandbox_image = "${cri.sandboxImage}"` : '';
  const criNetns = cri ? '\n  netns_mounts_under_state_dir = true' : '';
  const criExtra = cri
    ? `[plugins."${plugin}".cni]
  ${version === '2.1' ? `bin_dirs = ["${cri.cniBinDir}"]` : `bin_dir = "${cri.cniBinDir}"`}
  conf_dir = "${cri.cniConfDir}"
${
  version === '2.1'
    ? `[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "${cri.sandboxImage}"
`
    : ''
}`
    : '';
  return `version = ${version === '2.1' ? '3' : '2'}
root = "${p['root'] ?? ''}"
state = "${p['state'] ?? ''}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "${p['address'] ?? ''}"
[ttrpc]
  address = "${p['ttrpcAddress'] ?? ''}"
[plugins."${plugin}"]
  restrict_oom_score_adj = true${sandboxImage}${criNetns}
[plugins."${plugin}".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."${plugin}".containerd.runtimes.ts]
  runtime_type = "io.containerd.tsshim.v2"
${criExtra}`;
}

/** CRI settings for suites that drive containerd through CRI. */
export interface CriConfig {
  /** The pod sandbox ("pause") image, already imported or imported before the first pod. */
  sandboxImage: string;
  cniBinDir: string;
  cniConfDir: string;
}

export interface CtrResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface Containerd {
  dir: string;
  root: string;
  state: string;
  address: string;
  ttrpcAddress: string;
  namespace: string;
  readonly pid: number;
  readonly version: ContainerdVersion;
  /** That version's ctr, for tests that run it themselves. */
  readonly ctrPath: string;
  ctr(
    args: string[],
    opts?: { input?: string; timeoutMs?: number; reject?: boolean },
  ): Promise<CtrResult>;
  kill9(): Promise<void>;
  /**
   * Starts containerd again after kill9. `ttrpcAddress` moves its ttrpc socket: shims started
   * earlier keep the old address, where a test can put a gate in front of the new one.
   */
  restart(opts?: { ttrpcAddress?: string; binDir?: string }): Promise<void>;
  stop(): Promise<void>;
  log(): string;
}

/**
 * `env`: extra environment for containerd (and so for the shims it starts). `logLevel`: its log
 * level (default debug, which makes containerd start shims with -debug). `extraFds`: what
 * containerd gets as fds 3, 4, ... ('ignore' leaves one closed), inherited without O_CLOEXEC.
 */
export async function startContainerd(
  opts: {
    env?: Record<string, string>;
    logLevel?: string;
    extraFds?: (number | 'ignore')[];
    /** Where containerd finds our shim binaries (default: the repository's bin/). */
    binDir?: string;
    /** Which containerd (default: SHIM_TEST_CONTAINERD, else Debian's 1.6). */
    version?: ContainerdVersion;
    /** CRI settings (pause image, CNI dirs); without it, CRI's defaults. */
    cri?: CriConfig;
  } = {},
): Promise<Containerd> {
  let binDir = opts.binDir ?? join(REPO, 'bin');
  const version = opts.version ?? defaultVersion();
  // That version's containerd, ctr and reference shim (the oracle) come first on PATH.
  const toolBin = containerdBin(version);
  const containerdExe = toolBin === '' ? '/usr/bin/containerd' : join(toolBin, 'containerd');
  const ctrExe = toolBin === '' ? 'ctr' : join(toolBin, 'ctr');
  const extraBins = [toolBin, criuBin()].filter((b) => b !== '');
  const pathFor = (): string => [binDir, ...extraBins, SYSTEM_PATH].join(':');
  const dir = mkdtempSync('/tmp/ctd-');
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const address = join(dir, 'c.sock');
  const ttrpcAddress = `${address}.ttrpc`;
  const config = join(dir, 'config.toml');
  writeFileSync(config, configText(version, { root, state, address, ttrpcAddress }, opts.cri));
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const logFd = openSync(join(dir, 'containerd.log'), 'a');
    child = spawn(containerdExe, ['--config', config, '--log-level', opts.logLevel ?? 'debug'], {
      env: {
        ...process.env,
        // Our warm process leaves soon after the last shim, so stop() can check for leftovers.
        TSSHIM_WARM_LINGER_SECONDS: '1',
        // SHIM_TEST_GROUPING runs a suite with another default grouping mode for our shim.
        ...(process.env['SHIM_TEST_GROUPING']
          ? { TSSHIM_GROUPING: process.env['SHIM_TEST_GROUPING'] }
          : {}),
        ...opts.env,
        PATH: pathFor(),
      },
      stdio: ['ignore', logFd, logFd, ...(opts.extraFds ?? [])],
      cwd: '/',
    });
    closeSync(logFd);
    await waitFor(() => canConnect(address), 20000, 50);
  };
  const exited = (): Promise<void> =>
    new Promise((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) resolve();
      else
        child.once('exit', () => {
          resolve();
        });
    });
  await launch();
  const namespace = 'default';
  const cd: Containerd = {
    dir,
    root,
    state,
    address,
    ttrpcAddress,
    namespace,
    version,
    ctrPath: ctrExe,
    get pid() {
      return child?.pid ?? 0;
    },
    async ctr(args, opts) {
      const r = await execa(ctrExe, ['--address', address, '--namespace', namespace, ...args], {
        input: opts?.input ?? '',
        timeout: opts?.timeoutMs ?? 60000,
        reject: opts?.reject ?? true,
      });
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
    },
    async kill9() {
      child?.kill('SIGKILL');
      await exited();
    },
    async restart(restartOpts) {
      if (restartOpts?.binDir !== undefined) binDir = restartOpts.binDir;
      if (restartOpts?.ttrpcAddress !== undefined) {
        const text = readFileSync(config, 'utf8').replace(
          /\[ttrpc\]\n {2}address = "[^"]*"/,
          `[ttrpc]\n  address = "${restartOpts.ttrpcAddress}"`,
        );
        writeFileSync(config, text);
      }
      await launch();
    },
    async stop() {
      const tasks = await cd.ctr(['task', 'ls', '-q'], { reject: false });
      for (const id of tasks.stdout.split('\n').filter(Boolean)) {
        await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id], { reject: false });
        await cd.ctr(['task', 'delete', '-f', id], { reject: false });
      }
      const containers = await cd.ctr(['container', 'ls', '-q'], { reject: false });
      for (const id of containers.stdout.split('\n').filter(Boolean)) {
        await cd.ctr(['container', 'delete', id], { reject: false });
      }
      child?.kill('SIGTERM');
      await exited();
      for (const mp of mountsUnder(dir).reverse()) {
        try {
          native.umount2(mp, 2);
        } catch {
          // already gone
        }
      }
      // Warm processes and spares of ours exit on their own once no shim runs, and a daemon
      // told of a container that never came waits out its hold: give them that time.
      await waitFor(
        () => processesMatching(`-address ${address}`).length === 0,
        EXPECT_HOLD_MS + 15000,
        200,
      ).catch(() => undefined);
      const leftovers = processesMatching(`-address ${address}`);
      // What they are and what our daemons last logged, for a failure to be read from CI output.
      const described = leftovers.map((pid) => `${String(pid)}: ${commandLine(pid)}`);
      const shimLog = readFileSync(join(dir, 'containerd.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('runtime=io.containerd.tsshim.v2'))
        .slice(-20);
      rmSync(dir, { recursive: true, force: true });
      if (leftovers.length > 0)
        throw new Error(
          `shim processes left running:\n${described.join('\n')}\nour last log lines:\n${shimLog.join('\n')}`,
        );
    },
    log() {
      return readFileSync(join(dir, 'containerd.log'), 'utf8');
    },
  };
  return cd;
}

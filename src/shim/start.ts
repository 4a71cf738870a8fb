// The `start` action: make sure a shim daemon serves this container, print its address. The
// socket is bound and listening here, before the daemon exists, and lent to whoever becomes the
// daemon (see daemon.ts), so containerd can connect the moment the address is printed.
import { chmodSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SHIM_BINARY_ENV } from './upgrade/state.js';
import { sleep } from '../base/deferred.js';
import { native } from '../native/index.js';
import { readSpec, writeFileAtomic } from '../process/bundle.js';
import { DEFAULT_RUNTIME_OPTIONS, type RuntimeOptions } from '../process/options.js';
import { decodeRuntimeOptions } from '../task/options.js';
import { joinShimCgroup } from './shim-cgroup.js';
import { SOCKET_DIR, bindUnlessLive, ensureSocketDir, socketPath } from './socket.js';
import { socketAddress } from './socket-address.js';
import {
  checkSocketDir,
  formatStartOutput,
  parseStartInput,
  type StartInput,
} from './bootstrap.js';
import {
  DEFAULT_GROUPING,
  GROUPING_ANNOTATION,
  GROUPING_ENV,
  GROUPED_DAEMON_ENV,
  groupKey,
  parseGrouping,
} from './grouping.js';
import { announceContainer } from './group-service.js';
import type { DaemonLauncher, LaunchedDaemon } from './daemon.js';
import type { ShimFlags } from './flags.js';

export interface StartContext {
  /** The invocation's working directory: the bundle. */
  bundle: string;
  /** The invocation's environment, handed to the daemon. */
  env: string[];
  /** containerd's pid: the daemon's oom_score_adj is derived from its own. */
  parentPid: number;
  daemons: DaemonLauncher;
  /** The executable containerd ran (argv[0]): what a live upgrade re-executes. */
  binary?: string;
}

/** How long `start` waits for an exiting daemon to give up its socket path. */
const EXITING_DAEMON_WAIT_MS = 10_000;
const EXITING_DAEMON_POLL_MS = 20;

/**
 * The socket for container `id`: a new one bound here (a daemon must be launched on it), or
 * undefined when a live daemon has taken `id` on. A daemon on its way out refuses, and its path
 * disappears before its listener closes: wait for the path, then bind.
 */
async function claimSocket(path: string, id: string): Promise<number | undefined> {
  const deadline = Date.now() + EXITING_DAEMON_WAIT_MS;
  for (;;) {
    // A shim already on the path, unless provably dead, means reuse.
    const fd = await bindUnlessLive(path);
    if (fd !== undefined) return fd;
    if ((await announceContainer(path, id)) === 'held') return undefined;
    if (Date.now() > deadline) {
      throw new Error(`the shim daemon on ${path} is exiting and keeps its socket`);
    }
    await sleep(EXITING_DAEMON_POLL_MS);
  }
}

/** The runtime options; undecodable ones are reported by Create, with a proper error. */
function runtimeOptionsFrom(any: StartInput['options']): RuntimeOptions {
  if (!any) return DEFAULT_RUNTIME_OPTIONS;
  try {
    return decodeRuntimeOptions(any);
  } catch {
    return DEFAULT_RUNTIME_OPTIONS;
  }
}

function annotationsOf(bundle: string): Record<string, string> {
  try {
    return readSpec(bundle).annotations ?? {};
  } catch {
    return {}; // No readable spec: Create reports it.
  }
}

/** Returns what `start` prints: the address, in the form the caller's containerd prefers. */
export async function startAction(
  flags: ShimFlags,
  stdin: Buffer,
  ctx: StartContext,
): Promise<Uint8Array> {
  const { bundle } = ctx;
  const input = parseStartInput(stdin, flags.id, flags.namespace);
  const options = runtimeOptionsFrom(input.options);
  const annotations = annotationsOf(bundle);
  const grouping =
    parseGrouping(annotations[GROUPING_ANNOTATION] ?? '', `annotation ${GROUPING_ANNOTATION}`) ??
    parseGrouping(options.grouping, 'runtime option Grouping') ??
    parseGrouping(envValue(ctx.env, GROUPING_ENV), GROUPING_ENV) ??
    DEFAULT_GROUPING;
  const key = groupKey(grouping, annotations, flags.id, flags.namespace);
  if (input.socketDir !== undefined) checkSocketDir(input.socketDir);
  const dir = input.socketDir ?? SOCKET_DIR;
  const address = socketAddress(flags.address, flags.namespace, key, dir);
  const path = socketPath(address);
  ensureSocketDir(dir);
  const fd = await claimSocket(path, flags.id);
  if (fd === undefined) {
    writeAddress(bundle, address);
    return formatStartOutput(address, input);
  }
  // 2.3 gives its log level here rather than as -debug.
  const daemonFlags = { ...flags, debug: flags.debug || input.debug };
  let daemon: LaunchedDaemon | undefined;
  try {
    chmodSync(path, 0o600);
    const env = daemonEnv(ctx.env, {
      // A group keyed by this container's id gets no other container after it.
      grouped: key !== flags.id,
      ...(ctx.binary === undefined ? {} : { binary: resolve(bundle, ctx.binary) }),
    });
    daemon = await ctx.daemons.launch({ flags: daemonFlags, env, bundle, listenFd: fd });
    writeAddress(bundle, address);
    if (options.shimCgroup !== '') joinShimCgroup(options.shimCgroup, daemon.pid);
    adjustOomScore(daemon.pid, ctx.parentPid);
  } catch (err) {
    daemon?.abort();
    unlinkSync(path);
    throw err;
  } finally {
    native.closeFd(fd);
  }
  return formatStartOutput(address, input);
}

/**
 * containerd's environment for the daemon, with what `start` tells it: the installed executable
 * (an absolute path, as containerd ran it) and whether its group may grow after its container.
 * GOMAXPROCS=4 in place of containerd's 2, as the reference gives its daemon: runc inherits the
 * daemon's environment (and passes GOMAXPROCS on to `runc init`), so it runs as it does under
 * the reference.
 */
function daemonEnv(env: readonly string[], extra: { binary?: string; grouped: boolean }): string[] {
  const replaced = [SHIM_BINARY_ENV, GROUPED_DAEMON_ENV, 'GOMAXPROCS'].map((name) => `${name}=`);
  return [
    ...env.filter((e) => !replaced.some((prefix) => e.startsWith(prefix))),
    'GOMAXPROCS=4',
    ...(extra.binary === undefined ? [] : [`${SHIM_BINARY_ENV}=${extra.binary}`]),
    ...(extra.grouped ? [`${GROUPED_DAEMON_ENV}=1`] : []),
  ];
}

function envValue(env: readonly string[], name: string): string {
  return env.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1) ?? '';
}

function writeAddress(bundle: string, address: string): void {
  // Exactly the address, no newline: containerd 1.6 reads the raw bytes after a restart.
  writeFileAtomic(`${bundle}/address`, address, 0o644);
}

/** The daemon gets containerd's oom_score_adj + 1, so the OOM killer picks it before containerd. */
function adjustOomScore(pid: number, parentPid: number): void {
  try {
    const parent = Number.parseInt(readFileSync(`/proc/${parentPid}/oom_score_adj`, 'utf8'), 10);
    const score = Math.min(1000, Math.max(-1000, parent + 1));
    writeFileSync(`/proc/${pid}/oom_score_adj`, String(score));
  } catch {
    // Best effort, as in the reference: lowering may need CAP_SYS_RESOURCE.
  }
}

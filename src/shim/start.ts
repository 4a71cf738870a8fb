// The `start` action: make sure a shim daemon serves this container, print its address, exit.
// The socket is bound and listening here, before the daemon exists, and handed to it as fd 3, so
// containerd can connect the moment the address is printed.
import { chmodSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { google } from '../gen/proto.js';
import { native } from '../native/index.js';
import { errorCode } from '../base/errors.js';
import { readSpec, writeFileAtomic } from '../process/bundle.js';
import { decodeRuntimeOptions } from '../task/options.js';
import { joinShimCgroup } from './shim-cgroup.js';
import {
  bindPrivate,
  ensureSocketDir,
  isStaleSocket,
  socketAddress,
  socketPath,
} from './socket.js';
import type { ShimFlags } from './flags.js';

/** Annotations naming the shim group: containers with the same value share one daemon. */
export const GROUP_ANNOTATIONS = ['io.containerd.tsshim.v2.group', 'io.kubernetes.cri.sandbox-id'];

/** V8 flags for the long-lived daemon: one runs per container, so keep the heap small. */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=64'];

const MAIN_SCRIPT = fileURLToPath(new URL('../main.js', import.meta.url));

function groupId(bundle: string, id: string): string {
  try {
    const annotations = readSpec(bundle).annotations ?? {};
    for (const key of GROUP_ANNOTATIONS) {
      const value = annotations[key];
      if (value) return value;
    }
  } catch {
    // No readable spec: one shim per container.
  }
  return id;
}

/** Binds the socket; a shim already on it, unless provably dead, means reuse (returns undefined). */
async function listen(path: string): Promise<number | undefined> {
  try {
    return bindPrivate(path);
  } catch (err) {
    if (errorCode(err) !== 'EADDRINUSE') throw err;
  }
  if (!(await isStaleSocket(path))) return undefined;
  unlinkSync(path);
  return bindPrivate(path);
}

/** The shim cgroup named by the runtime options on stdin, or ''. */
function shimCgroupFrom(stdin: Buffer): string {
  if (stdin.length === 0) return '';
  try {
    return decodeRuntimeOptions(google.protobuf.Any.decode(stdin)).shimCgroup;
  } catch {
    // Undecodable options are reported by Create, with a proper error.
    return '';
  }
}

export async function startAction(flags: ShimFlags, stdin: Buffer): Promise<string> {
  const bundle = process.cwd();
  const address = socketAddress(flags.address, flags.namespace, groupId(bundle, flags.id));
  const path = socketPath(address);
  ensureSocketDir();
  const fd = await listen(path);
  if (fd === undefined) {
    writeAddress(bundle, address);
    return address;
  }
  let pid = 0;
  try {
    chmodSync(path, 0o600);
    const argv = [process.execPath, ...DAEMON_NODE_FLAGS, MAIN_SCRIPT];
    argv.push('-namespace', flags.namespace, '-id', flags.id, '-address', flags.address);
    if (flags.publishBinary !== '') argv.push('-publish-binary', flags.publishBinary);
    if (flags.debug) argv.push('-debug');
    const env = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);
    // Detached in its own session with none of containerd's stdio: containerd reads our
    // stdout until EOF, so an inherited pipe would hang the task create.
    pid = native.spawn({
      file: process.execPath,
      argv,
      env,
      cwd: bundle,
      fds: [-1, -1, -1, fd],
      setsid: true,
    });
    writeAddress(bundle, address);
    const cgroup = shimCgroupFrom(stdin);
    if (cgroup !== '') joinShimCgroup(cgroup, pid);
    adjustOomScore(pid);
  } catch (err) {
    if (pid > 0) process.kill(pid, 'SIGKILL');
    unlinkSync(path);
    throw err;
  } finally {
    native.closeFd(fd);
  }
  return address;
}

function writeAddress(bundle: string, address: string): void {
  // Exactly the address, no newline: containerd 1.6 reads the raw bytes after a restart.
  writeFileAtomic(`${bundle}/address`, address, 0o644);
}

/** The daemon gets containerd's oom_score_adj + 1, so the OOM killer picks it before containerd. */
function adjustOomScore(pid: number): void {
  try {
    const parent = Number.parseInt(readFileSync(`/proc/${process.ppid}/oom_score_adj`, 'utf8'), 10);
    const score = Math.min(1000, Math.max(-1000, parent + 1));
    writeFileSync(`/proc/${pid}/oom_score_adj`, String(score));
  } catch {
    // Best effort, as in the reference: lowering may need CAP_SYS_RESOURCE.
  }
}

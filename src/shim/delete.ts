// The `delete` action: clean up after a container whose daemon may be gone. Idempotent: containerd
// runs it after every task delete too. Prints only a serialized DeleteResponse.
import { containerd } from '../gen/task.js';
import { timestampFromDate } from '../base/proto-util.js';
import { resolveExecutable, type Monitor } from '../reaper/index.js';
import { Runc } from '../runtime/runc.js';
import {
  bundleFiles,
  bundlePath,
  loadInitExit,
  loadRuntimeOptions,
  readPidFile,
  runcConfig,
} from '../process/bundle.js';
import { DEFAULT_RUNTIME_OPTIONS } from '../process/options.js';
import { unmountAll } from '../process/rootfs.js';
import type { ShimFlags } from './flags.js';

/** Exit status reported when the real one is unknown: the container was force-killed. */
const KILLED_STATUS = 128 + 9;

export interface DeleteContext {
  /** The invocation's working directory (the bundle unless -bundle says otherwise). */
  cwd: string;
  /** The invocation's environment: runc runs with it. */
  env: string[];
  monitor: Monitor;
}

export async function deleteAction(flags: ShimFlags, ctx: DeleteContext): Promise<Uint8Array> {
  const bundle = flags.bundle || ctx.cwd;
  const options = { ...DEFAULT_RUNTIME_OPTIONS, ...loadRuntimeOptions(bundle) };
  try {
    // As the reference's delete action: no --criu (nothing is checkpointed here).
    const config = { ...runcConfig(options, flags.namespace, bundle), criu: '', env: ctx.env };
    const runc = new Runc(config, ctx.monitor, resolveExecutable(config.binary, pathOf(ctx.env)));
    await runc.delete(flags.id, true).catch(() => undefined);
  } catch {
    // Missing runtime binary or bookkeeping: still unmount and answer.
  }
  await unmountAll(bundlePath(bundle, bundleFiles.rootfs)).catch(() => undefined);
  let pid = 0;
  try {
    pid = readPidFile(bundlePath(bundle, bundleFiles.initPid));
  } catch {
    // never created
  }
  const saved = loadInitExit(bundle);
  return containerd.task.v2.DeleteResponse.encode({
    pid,
    exit_status: saved?.status ?? KILLED_STATUS,
    exited_at: timestampFromDate(saved ? new Date(saved.exitedAt) : new Date()),
  }).finish();
}

function pathOf(env: readonly string[]): string {
  return env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '';
}

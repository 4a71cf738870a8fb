// A spare: a Node process started ahead of need, with the daemon's code already loaded. The warm
// process hands it one job over the SOCK_SEQPACKET channel on fd 3 (the shim flags, containerd's
// environment, the bundle, and the bound socket as SCM_RIGHTS); the spare answers with its pid and
// becomes that shim daemon, exactly as a daemon started cold (it already runs in its own session,
// with init as parent and no stdio of ours).
import { native } from '../../native/index.js';
import type { ShimFlags } from '../flags.js';
import { daemonArgs } from '../daemon.js';
import { nodeCommand } from '../node-command.js';

export const SPARE_CHANNEL_FD = 3;
/** Bound on one channel message (the environment dominates). */
export const MAX_SPARE_MESSAGE = 1 << 20;
export const SPARE_READY = 'ready';
/**
 * Room in a spare's argv for the title it takes as a daemon (Node can only rewrite the argv
 * area), so `ps` shows its flags as for any shim daemon.
 */
export const TITLE_ROOM = ' '.repeat(1024);

/** The process title of a daemon: its command line, as if started cold. */
export function showAsDaemon(flags: ShimFlags): void {
  process.title = nodeCommand(daemonArgs(flags)).join(' ');
}

export interface SpareJob {
  flags: ShimFlags;
  env: string[];
  bundle: string;
}

export type SpareReply = { pid: number } | { error: string };

/** Replaces the environment with containerd's, as a daemon started by `start` would have it. */
export function adoptEnvironment(env: readonly string[]): void {
  for (const key of Object.keys(process.env)) Reflect.deleteProperty(process.env, key);
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq > 0) process.env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
}

function reply(message: SpareReply): void {
  native.sendMessage(SPARE_CHANNEL_FD, Buffer.from(JSON.stringify(message)), -1);
}

export async function runSpare(): Promise<void> {
  const { serve } = await import('../serve.js');
  native.sendMessage(SPARE_CHANNEL_FD, Buffer.from(SPARE_READY), -1);
  // Blocking: a spare has nothing else to do. EOF means the warm process is gone: so are we.
  const message = native.recvMessage(SPARE_CHANNEL_FD, MAX_SPARE_MESSAGE);
  if (message === null || message.data.length === 0) return;
  let job: SpareJob;
  try {
    job = JSON.parse(message.data.toString()) as SpareJob;
    if (message.fd < 0) throw new Error('no socket came with the job');
    process.chdir(job.bundle);
  } catch (err) {
    reply({ error: err instanceof Error ? err.message : String(err) });
    if (message.fd >= 0) native.closeFd(message.fd);
    return;
  }
  adoptEnvironment(job.env);
  showAsDaemon(job.flags);
  reply({ pid: process.pid });
  native.closeFd(SPARE_CHANNEL_FD);
  await serve(job.flags, message.fd);
}

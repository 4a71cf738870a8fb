// A spare: a Node process started ahead of need, with the daemon's code already loaded. The warm
// process hands it one job over the SOCK_SEQPACKET channel on fd 3 (the shim flags, containerd's
// environment, the bundle, and the bound socket as SCM_RIGHTS); the spare answers with its pid and
// becomes that shim daemon, exactly as a daemon started cold (it already runs in its own session,
// with init as parent and no stdio of ours).
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { native } from '../../native/index.js';
import { spawnDetached } from '../../reaper/index.js';
import type { ShimFlags } from '../flags.js';
import { daemonArgs } from '../daemon.js';
import { nodeCommand, ZYGOTE_NODE_FLAGS } from '../node-command.js';

export const SPARE_CHANNEL_FD = 3;
/** Bound on one channel message (the environment dominates). */
export const MAX_SPARE_MESSAGE = 1 << 20;
export const SPARE_READY = 'ready';
/**
 * Room in a spare's argv for the title it takes as a daemon (Node can only rewrite the argv
 * area), so `ps` shows its flags as for any shim daemon.
 */
export const TITLE_ROOM = ' '.repeat(1024);

/**
 * Starts a process of ours with one end of a new SOCK_SEQPACKET pair (`start` gets it, and it is
 * closed here after): its pid, and our end.
 */
export function startWithChannel(start: (theirs: number) => number): {
  pid: number;
  channel: number;
} {
  const [mine, theirs] = native.seqpacketPair();
  try {
    return { pid: start(theirs), channel: mine };
  } catch (err) {
    native.closeFd(mine);
    throw err;
  } finally {
    native.closeFd(theirs);
  }
}

/** A detached Node of ours running `args`, with `channel` as its fd 3: its pid. */
export function spawnWithChannel(
  args: readonly string[],
  env: string[],
  channel: number,
  moreFlags: readonly string[] = [],
): number {
  const argv = nodeCommand(args, moreFlags);
  const fds = [-1, -1, -1];
  fds[SPARE_CHANNEL_FD] = channel;
  return spawnDetached({ file: argv[0] ?? process.execPath, argv, env, fds });
}

/**
 * The process title of a daemon: its command line, as if started cold (with the zygote's flags
 * when the zygote forked it).
 */
export function showAsDaemon(flags: ShimFlags): void {
  const zygoteFlags = process.execArgv.filter((flag) => ZYGOTE_NODE_FLAGS.includes(flag));
  process.title = nodeCommand(daemonArgs(flags), zygoteFlags).join(' ');
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

/**
 * What must be the same again before a process that served containers takes another job: its
 * open fds (where they point), its cgroups and the kinds of handles keeping Node's loop alive.
 */
function processFootprint(): string {
  const fds = readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return `${fd}->${readlinkSync(`/proc/self/fd/${fd}`)}`;
      } catch {
        return ''; // the fd of the listing itself, closed by now
      }
    })
    // libuv keeps a /dev/null open once the loop has listened (its reserve for EMFILE).
    .filter((entry) => entry !== '' && !/^([3-9]|\d\d+)->\/dev\/null$/.test(entry))
    .sort();
  const handles = process.getActiveResourcesInfo().sort();
  return JSON.stringify({ fds, cgroups: readFileSync('/proc/self/cgroup', 'utf8'), handles });
}

/** Lets pending closes and writes finish (a turn or two of the loop). */
export const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

/** A daemon's traces in the process, undone before it waits for the next job. */
function resetForNextJob(title: string): void {
  process.chdir('/');
  process.title = title;
  native.setLastWords('');
  const devNull = openSync('/dev/null', 'w');
  try {
    native.redirectStderr(devNull);
  } finally {
    closeSync(devNull);
  }
}

/**
 * The spare: boots, says it is ready, takes one job at a time from the warm process and serves it
 * as that shim daemon. When its last container is gone (Shutdown, not a signal) it goes back to
 * the warm process for another job, but only when nothing of the job is left in it (same fds,
 * cgroups and loop handles as when it first said ready); otherwise it exits, as a daemon does.
 */
export async function runSpare(forkedChannel?: number, forkedTitle?: string): Promise<void> {
  const { serve } = await import('../serve.js');
  // The channel stays for the process's life: close-on-exec, so no container or runc inherits it.
  // A spare forked by the zygote (zygote.ts) got it in the fork request.
  let channel = forkedChannel;
  if (channel === undefined) {
    channel = native.dupFd(SPARE_CHANNEL_FD);
    native.closeFd(SPARE_CHANNEL_FD);
  }
  // As started (Node's own process.title is argv[0] alone): what `ps` shows of a spare.
  const title =
    forkedTitle ?? [process.execPath, ...process.execArgv, ...process.argv.slice(1)].join(' ');
  if (forkedTitle !== undefined) process.title = forkedTitle;
  // Node makes process.stderr on first use (closing any socket asks for it): made now, on our
  // /dev/null, it is the same object before and after every job, not a pipe of the first job's log.
  Reflect.get(process, 'stderr');
  // A forked spare is a copy of a zygote that had settled before it forked: nothing is pending.
  if (forkedChannel === undefined) await settle();
  const footprint = processFootprint();
  const send = (message: string | SpareReply): void => {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    native.sendMessage(channel, Buffer.from(text), -1);
  };
  for (;;) {
    try {
      send(SPARE_READY);
    } catch {
      return; // the warm process is gone
    }
    // Blocking: a spare has nothing else to do. EOF means the warm process is gone or done with
    // us: so are we.
    const message = native.recvMessage(channel, MAX_SPARE_MESSAGE);
    if (message === null || message.data.length === 0) return;
    let job: SpareJob;
    try {
      job = JSON.parse(message.data.toString()) as SpareJob;
      if (message.fd < 0) throw new Error('no socket came with the job');
      process.chdir(job.bundle);
    } catch (err) {
      send({ error: err instanceof Error ? err.message : String(err) });
      if (message.fd >= 0) native.closeFd(message.fd);
      return;
    }
    adoptEnvironment(job.env);
    showAsDaemon(job.flags);
    send({ pid: process.pid });
    // The server owns the listening socket from here and closes it.
    const endedBy = await serve(job.flags, message.fd);
    if (endedBy !== 'api') return;
    resetForNextJob(title);
    await settle();
    if (processFootprint() !== footprint) return;
  }
}

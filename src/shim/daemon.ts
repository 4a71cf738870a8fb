// Who becomes the shim daemon once `start` has bound its socket. Cold: a new Node process started
// detached (own session, init as parent, no stdio of ours, the socket as fd 3). The warm path and
// a relayed `start` provide other launchers with the same contract.
import { spawnDetached } from '../reaper/index.js';
import type { ShimFlags } from './flags.js';
import { nodeCommand } from './node-command.js';

/** The listening socket a daemon serves (fd 3 of a spawned daemon). */
export const LISTEN_FD = 3;

export interface DaemonJob {
  flags: ShimFlags;
  /** The environment containerd gave the shim (TTRPC_ADDRESS, ...). */
  env: string[];
  /** The bundle: the daemon's working directory. */
  bundle: string;
  /** The bound, listening shim socket; the launcher only borrows it (the caller closes it). */
  listenFd: number;
}

export interface LaunchedDaemon {
  pid: number;
  /** Stops the daemon again when `start` fails after launching it. */
  abort(): void;
}

export interface DaemonLauncher {
  launch(job: DaemonJob): Promise<LaunchedDaemon>;
}

/** The daemon's own command line: containerd's flags, no action. */
export function daemonArgs(flags: ShimFlags): string[] {
  const args = ['-namespace', flags.namespace, '-id', flags.id, '-address', flags.address];
  if (flags.publishBinary !== '') args.push('-publish-binary', flags.publishBinary);
  if (flags.debug) args.push('-debug');
  return args;
}

export const spawnDaemon: DaemonLauncher = {
  launch(job) {
    const argv = nodeCommand(daemonArgs(job.flags));
    const pid = spawnDetached({
      file: argv[0] ?? process.execPath,
      argv,
      env: job.env,
      cwd: job.bundle,
      fds: [-1, -1, -1, job.listenFd],
    });
    return Promise.resolve({
      pid,
      abort: () => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      },
    });
  },
};

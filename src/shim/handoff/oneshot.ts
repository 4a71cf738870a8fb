// A process the launcher started for one request (no warm process answered): it serves that
// request over fd TSSHIM_RELAY_FD with the same command function as the warm process. When the
// request is a `start` that needs a daemon, this process becomes the daemon itself, so a cold
// start costs one Node start-up, not two. Once the request is accepted it also starts the warm
// process for this containerd if there is none, for the requests that follow (and those waiting on
// the cold lock meanwhile).
import { connect, Socket } from 'node:net';
import { native } from '../../native/index.js';
import { Monitor, spawnDetached } from '../../reaper/index.js';
import { runCommand } from '../command.js';
import { parseFlags, type ShimFlags } from '../flags.js';
import { nodeCommand } from '../node-command.js';
import type { DaemonLauncher } from '../daemon.js';
import { serveRelay } from './relay.js';
import { adoptEnvironment, showAsDaemon } from './spare.js';
import { relayPolicy } from './warm.js';
import {
  COLD_LOCK_FD_ENV,
  takeColdLock,
  warmEnabled,
  warmSocketPath,
  type ColdLock,
} from './warm-socket.js';

interface SelfAdoption {
  flags: ShimFlags;
  listenFd: number;
}

export async function runRelayedOnce(fd: number): Promise<void> {
  const coldLock = takeColdLock();
  const socket = new Socket({ fd, readable: true, writable: true });
  socket.on('error', () => undefined);
  let adopted: SelfAdoption | undefined;
  const self: DaemonLauncher = {
    launch(job) {
      adopted = { flags: job.flags, listenFd: native.dupFd(job.listenFd) };
      adoptEnvironment(job.env);
      process.chdir(job.bundle);
      return Promise.resolve({
        pid: process.pid,
        abort: () => {
          if (adopted) native.closeFd(adopted.listenFd);
          adopted = undefined;
        },
      });
    },
  };
  const monitor = new Monitor();
  monitor.start({ subreaper: false });
  let warming: Promise<void> | undefined;
  await serveRelay(
    socket,
    {
      refuse: (peer, request) => {
        let address = '';
        try {
          address = parseFlags(request.argv.slice(1)).address;
        } catch {
          // the command itself reports bad flags
        }
        const refusal = relayPolicy(address).refuse(peer, request);
        if (refusal === undefined && address !== '') {
          warming = ensureWarm(address, request.env, coldLock);
        }
        return refusal;
      },
    },
    (inv) => runCommand(inv, { daemons: self, monitor }),
  ).finally(() => {
    monitor.stop();
    socket.destroy();
  });
  await warming;
  coldLock.release();
  if (adopted !== undefined) {
    showAsDaemon(adopted.flags);
    const { serve } = await import('../serve.js');
    await serve(adopted.flags, adopted.listenFd);
  }
}

/**
 * Starts the warm process for `address` unless one answers (a losing duplicate exits at once),
 * handing it the cold lock, which it lets go once it listens.
 */
async function ensureWarm(address: string, env: string[], coldLock: ColdLock): Promise<void> {
  const vars = Object.fromEntries(
    env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );
  if (!warmEnabled(vars)) return;
  const path = warmSocketPath(address, vars['TSSHIM_WARM_DIR'] || undefined);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      resolve(false);
    });
  });
  if (alive) return;
  try {
    const argv = nodeCommand(['-address', address, 'warm']);
    const lock = coldLock.fd;
    spawnDetached({
      file: argv[0] ?? process.execPath,
      argv,
      env: lock === undefined ? env : [...env, `${COLD_LOCK_FD_ENV}=3`],
      cwd: '/',
      fds: lock === undefined ? [-1, -1, -1] : [-1, -1, -1, lock],
    });
  } catch {
    // No warm process: later containers start cold, as this one did.
  }
}

// A process the launcher started for one request (no warm process answered): it serves that
// request over fd TSSHIM_RELAY_FD with the same command function as the warm process. When the
// request is a `start` that needs a daemon, this process becomes the daemon itself, so a cold
// start costs one Node start-up, not two. After a `start` it also starts the warm process for this
// containerd if there is none, for the containers that follow.
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
import { warmEnabled, warmSocketPath } from './warm-socket.js';

interface SelfAdoption {
  flags: ShimFlags;
  listenFd: number;
}

export async function runRelayedOnce(fd: number): Promise<void> {
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
  let env: string[] = [];
  let address = '';
  const outcome = await serveRelay(
    socket,
    {
      refuse: (peer, request) => {
        env = request.env;
        try {
          address = parseFlags(request.argv.slice(1)).address;
        } catch {
          address = '';
        }
        return relayPolicy(address).refuse(peer, request);
      },
    },
    (inv) => runCommand(inv, { daemons: self, monitor }),
  );
  monitor.stop();
  socket.destroy();
  if (outcome?.kind === 'answer' && outcome.code === 0 && address !== '') {
    await ensureWarm(address, env);
  }
  if (adopted !== undefined) {
    showAsDaemon(adopted.flags);
    const { serve } = await import('../serve.js');
    await serve(adopted.flags, adopted.listenFd);
  }
}

/** Starts the warm process for `address` unless one answers (a losing duplicate exits at once). */
async function ensureWarm(address: string, env: string[]): Promise<void> {
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
    spawnDetached({ file: argv[0] ?? process.execPath, argv, env, cwd: '/', fds: [-1, -1, -1] });
  } catch {
    // No warm process: later containers start cold, as this one did.
  }
}

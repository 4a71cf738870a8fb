// The warm process: one per containerd address and build, started by the first relayed `start`.
// It answers the launcher's `start`, `delete`, `-v` and `-info` with code already loaded, and
// hands new daemons to ready spares, so no Node start-up lies on a container's path. It exits
// after a bounded idle time, or soon after no shim of ours serves that containerd any more.
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { Monitor } from '../../reaper/index.js';
import { runCommand } from '../command.js';
import { parseFlags } from '../flags.js';
import { isMainScript } from '../node-command.js';
import { bindUnlessLive, ensureSocketDir } from '../socket.js';
import { serveRelay, type RelayPolicy } from './relay.js';
import { SparePool } from './spares.js';
import {
  coldLockPath,
  takeColdLock,
  warmDir,
  warmSocketPath,
  type ColdLock,
} from './warm-socket.js';

/** Bound on idleness, whatever runs (`TSSHIM_WARM_IDLE_SECONDS`). */
const DEFAULT_IDLE_SECONDS = 300;
/**
 * Grace once no shim of ours runs (`TSSHIM_WARM_LINGER_SECONDS`), counted from the last request
 * and from the first check that found none: containerd runs `delete` for shims that just died.
 */
const DEFAULT_LINGER_SECONDS = 10;
const CHECK_INTERVAL_MS = 2000;

function secondsFromEnv(name: string, fallback: number): number {
  const seconds = Number(process.env[name] ?? fallback);
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : fallback) * 1000;
}

/** Peers allowed on the socket: root, or the uid containerd (and so we) run as. */
export function relayPolicy(address: string, uid = process.getuid?.() ?? 0): RelayPolicy {
  return {
    refuse(peer, request) {
      if (peer.uid !== 0 && peer.uid !== uid) return `uid ${String(peer.uid)} is not allowed`;
      let requested: string;
      try {
        requested = parseFlags(request.argv.slice(1)).address;
      } catch {
        return undefined; // the command itself reports bad flags
      }
      if (requested !== '' && requested !== address) {
        return `this warm process serves containerd ${address}, not ${requested}`;
      }
      return undefined;
    },
  };
}

/** What the warm path itself runs: none of them serves a container. */
export const WARM_PATH_ROLES: ReadonlySet<string> = new Set(['warm', 'zygote', 'spare']);

/**
 * Processes of ours (daemons, relayed runs) serving `address`, other than `except`. A daemon that
 * was a spare shows its flags in its title (space-separated), others in their argv. Warm
 * processes, zygotes and spares do not count: two warm processes (one displaced by the other,
 * below) would otherwise keep each other alive.
 */
export function ourShimsRunning(address: string, except: ReadonlySet<number>): boolean {
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || except.has(pid)) continue;
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'latin1')
        .split(/[\0 ]+/)
        .filter((arg) => arg !== '');
      const at = args.indexOf('-address');
      if (!args.some(isMainScript) || at < 0 || args[at + 1] !== address) continue;
      if (!WARM_PATH_ROLES.has(args.at(-1) ?? '')) return true;
    } catch {
      // exited meanwhile
    }
  }
  return false;
}

/** The inode `path` names now, or undefined when it names nothing. */
function inodeAt(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

export async function runWarm(address: string): Promise<void> {
  // Taken before the environment is copied for spares: the lock is not theirs.
  const coldLock = takeColdLock();
  try {
    await serveWarm(address, coldLock);
  } finally {
    coldLock.release();
  }
}

async function serveWarm(address: string, coldLock: ColdLock): Promise<void> {
  if (address === '') throw new Error('warm: -address is required');
  const dir = warmDir();
  ensureSocketDir(dir);
  const path = warmSocketPath(address, dir);
  // undefined: a live warm process already has the socket.
  const fd = await bindUnlessLive(path, 1000);
  if (fd === undefined) return;
  // Two processes taking over a dead warm process's socket at once can both see it dead; the
  // second then removes the first one's fresh socket and binds its own. The first, displaced,
  // is reached by no launcher any more: it notices and leaves.
  const boundInode = inodeAt(path);

  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);
  const monitor = new Monitor();
  monitor.start({ subreaper: false });
  // Spares forked by a zygote (zygote.ts) instead of booted, unless TSSHIM_ZYGOTE=0.
  const spares = new SparePool(address, env, process.env['TSSHIM_ZYGOTE'] !== '0');
  spares.replenish();
  const policy = relayPolicy(address);
  let active = 0;
  let lastActivity = Date.now();
  let noShimsSince: number | undefined;

  // Half-open allowed: a peer that stops writing still gets its answer (or the refusal).
  const server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    active++;
    lastActivity = Date.now();
    socket.on('error', () => undefined);
    serveRelay(socket, policy, (inv) => runCommand(inv, { daemons: spares, monitor }))
      .catch(() => {
        socket.destroy();
      })
      .finally(() => {
        active--;
        lastActivity = Date.now();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, resolve);
  });
  // Launchers waiting for a warm process find this one now.
  coldLock.release();

  const idleLimit = secondsFromEnv('TSSHIM_WARM_IDLE_SECONDS', DEFAULT_IDLE_SECONDS);
  const linger = secondsFromEnv('TSSHIM_WARM_LINGER_SECONDS', DEFAULT_LINGER_SECONDS);
  const ended = await new Promise<'displaced' | 'done'>((resolve) => {
    const timer = setInterval(
      () => {
        if (inodeAt(path) !== boundInode) {
          clearInterval(timer);
          resolve('displaced');
          return;
        }
        spares.trim();
        if (active > 0) return;
        const now = Date.now();
        const idle = now - lastActivity;
        if (
          idle <= idleLimit &&
          (idle <= linger ||
            ourShimsRunning(address, new Set([process.pid, ...spares.waitingPids])))
        ) {
          noShimsSince = undefined;
          return;
        }
        noShimsSince ??= now;
        if (idle > idleLimit || now - noShimsSince >= linger) {
          clearInterval(timer);
          resolve('done');
        }
      },
      Math.min(CHECK_INTERVAL_MS, linger),
    );
    for (const signal of ['SIGTERM', 'SIGINT'] as const)
      process.once(signal, () => {
        clearInterval(timer);
        resolve('done');
      });
  });
  // Stop taking requests first: a launcher that finds no warm process starts Node itself. A
  // displaced process leaves both files to the process that has them now.
  for (const file of ended === 'displaced' ? [] : [path, coldLockPath(address, dir)]) {
    try {
      unlinkSync(file);
    } catch {
      // already replaced
    }
  }
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  await spares.close();
  monitor.stop();
}

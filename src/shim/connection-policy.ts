// Who may hold a connection to a shim daemon, and how many may. As the reference's ttrpc server
// (UnixSocketRequireSameUser): only a peer with the daemon's effective uid and gid, whatever the
// socket file's mode says. And a bound on open connections, so a runaway client cannot take the
// fds the containers' IO needs. Refusals are logged, at most one line a second.
import type { Socket } from 'node:net';
import type { Logger } from '../base/log.js';
import { peerOf } from './socket.js';

/** containerd holds one connection per container; 1,024 leaves room for large groups. */
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const MAX_CONNECTIONS_ENV = 'TSSHIM_MAX_CONNECTIONS';
const LOG_INTERVAL_MS = 1000;

export function maxConnections(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env[MAX_CONNECTIONS_ENV] ?? DEFAULT_MAX_CONNECTIONS);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_CONNECTIONS;
}

/** Why a connection was refused; each kind is throttled on its own, so none hides another. */
export type RefusalKind = 'credentials' | 'limit' | 'accept';

/** One log line per interval and kind; the refusals in between are counted in the next line. */
export class RefusalLog {
  readonly #kinds = new Map<RefusalKind, { last: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  refused(kind: RefusalKind, reason: string): void {
    const now = this.now();
    const seen = this.#kinds.get(kind);
    if (seen && now - seen.last < LOG_INTERVAL_MS) {
      seen.suppressed++;
      return;
    }
    this.log.warn('ttrpc connection refused', {
      reason,
      'refused.unlogged': seen?.suppressed ?? 0,
    });
    this.#kinds.set(kind, { last: now, suppressed: 0 });
  }
}

/** A connection filter that admits only peers with our effective uid and gid. */
export function sameUserOnly(
  refusals: RefusalLog,
  uid = process.geteuid?.() ?? 0,
  gid = process.getegid?.() ?? 0,
): (socket: Socket) => boolean {
  return (socket) => {
    const peer = peerOf(socket);
    if (peer.uid === uid && peer.gid === gid) return true;
    refusals.refused(
      'credentials',
      `peer pid ${String(peer.pid)} uid ${String(peer.uid)} gid ${String(peer.gid)} is not uid ${String(uid)} gid ${String(gid)}`,
    );
    return false;
  };
}

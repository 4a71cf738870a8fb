// Shim sockets: always a filesystem socket (never abstract: CVE-2020-15257), directory 0700,
// socket 0600; their names are in socket-address.ts.
import { chmodSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { errorCode } from '../base/errors.js';
import { native, type PeerCred } from '../native/index.js';

export const SOCKET_DIR = '/run/containerd/s';
export const UNIX_PREFIX = 'unix://';
/** Longest socket path we accept (sun_path is 108 bytes incl. NUL; the reference checks 106). */
export const MAX_SOCKET_PATH = 106;

/**
 * Makes the socket dir private to us: created 0700, or, if it exists (the reference 1.6 creates
 * it 0600), refused unless it is our own real directory, and stripped of group and other access.
 */
export function ensureSocketDir(dir: string = SOCKET_DIR): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`socket dir ${dir} is not a directory`);
  const euid = process.geteuid?.() ?? 0;
  if (st.uid !== euid) throw new Error(`socket dir ${dir} is owned by uid ${String(st.uid)}`);
  if ((st.mode & 0o077) !== 0) chmodSync(dir, st.mode & 0o700);
}

/** Binds under umask 077, so the socket is never open to others, even before its chmod. */
export function bindPrivate(path: string): number {
  const umask = process.umask(0o077);
  try {
    return native.listenUnix(path, 1024);
  } finally {
    process.umask(umask);
  }
}

export function socketPath(address: string): string {
  return address.startsWith(UNIX_PREFIX) ? address.slice(UNIX_PREFIX.length) : address;
}

/**
 * True only when the socket is provably dead: connecting is refused (no listener) or the file is
 * gone. A connect that has not completed within `timeoutMs` counts as a live, busy shim: under
 * load the event loop can stall past any short timer before the connect completion is seen, and
 * taking over a live group's socket would leave two daemons for one group.
 */
export function isStaleSocket(path: string, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (stale: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(stale);
    };
    const timer = setTimeout(() => {
      done(false);
    }, timeoutMs);
    sock.once('connect', () => {
      done(false);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      done(err.code === 'ECONNREFUSED' || err.code === 'ENOENT');
    });
  });
}

/** Removes the socket file unless something listens on it; false when something does. */
export async function removeStaleSocket(path: string, timeoutMs?: number): Promise<boolean> {
  if (!(await isStaleSocket(path, timeoutMs))) return false;
  rmSync(path, { force: true });
  return true;
}

/** Binds `path`, taking it over from a dead listener; undefined when a live one has it. */
export async function bindUnlessLive(
  path: string,
  timeoutMs?: number,
): Promise<number | undefined> {
  try {
    return bindPrivate(path);
  } catch (err) {
    if (errorCode(err) !== 'EADDRINUSE') throw err;
  }
  if (!(await removeStaleSocket(path, timeoutMs))) return undefined;
  return bindPrivate(path);
}

/** Credentials of an accepted unix socket's peer (Node keeps the fd on the handle, unexposed). */
export function peerOf(socket: Socket): PeerCred {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no fd');
  return native.peerCred(fd);
}

// Shim socket naming: unix:///run/containerd/s/<sha256(path.Join(address, ns, group))>. Always a
// filesystem socket (never abstract: CVE-2020-15257), directory 0700, socket 0600.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { connect } from 'node:net';

export const SOCKET_DIR = '/run/containerd/s';
export const UNIX_PREFIX = 'unix://';
/** Longest socket path we accept (sun_path is 108 bytes incl. NUL; the reference checks 106). */
export const MAX_SOCKET_PATH = 106;

export function socketAddress(grpcAddress: string, namespace: string, groupId: string): string {
  const hash = createHash('sha256')
    .update(posix.join(grpcAddress, namespace, groupId))
    .digest('hex');
  return `${UNIX_PREFIX}${SOCKET_DIR}/${hash}`;
}

export function socketPath(address: string): string {
  return address.startsWith(UNIX_PREFIX) ? address.slice(UNIX_PREFIX.length) : address;
}

/** True when something accepts connections on the unix socket within `timeoutMs`. */
export function canConnect(path: string, timeoutMs = 100): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => {
      done(false);
    }, timeoutMs);
    sock.once('connect', () => {
      done(true);
    });
    sock.once('error', () => {
      done(false);
    });
  });
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

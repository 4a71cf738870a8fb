// Shim socket naming: unix:///run/containerd/s/<sha256(path.Join(address, ns, group))>, as the
// reference names them. Only `start` names sockets, so a daemon never loads node:crypto (16 ms of
// CPU at every Node boot).
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { MAX_SOCKET_PATH, SOCKET_DIR, UNIX_PREFIX } from './socket.js';

/** The shim socket's address; `dir` is containerd 2.3's socket_dir, else the fixed one. */
export function socketAddress(
  grpcAddress: string,
  namespace: string,
  groupId: string,
  dir: string = SOCKET_DIR,
): string {
  const hash = createHash('sha256')
    .update(posix.join(grpcAddress, namespace, groupId))
    .digest('hex');
  const path = `${dir}/${hash}`;
  if (path.length > MAX_SOCKET_PATH) {
    throw new Error(`socket path ${path} is longer than ${String(MAX_SOCKET_PATH)} bytes`);
  }
  return `${UNIX_PREFIX}${path}`;
}

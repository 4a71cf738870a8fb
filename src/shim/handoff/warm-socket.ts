// Where the warm process of this build for one containerd listens. The launcher computes the same
// path (native/launcher/launcher.c): FNV-1a 64 of containerd's address, then the build id. The
// hash only routes; the warm process checks the address of every request itself.
import { native } from '../../native/index.js';
import { BUILD_ID } from '../version.js';

export const DEFAULT_WARM_DIR = '/run/containerd-shim-ts';

export function warmDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['TSSHIM_WARM_DIR'] || DEFAULT_WARM_DIR;
}

/** False when containerd's environment turns the warm path off (`TSSHIM_WARM=0`). */
export function warmEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['TSSHIM_WARM'] !== '0';
}

export function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}

export function warmSocketPath(address: string, dir = warmDir(), buildId = BUILD_ID): string {
  return `${dir}/${fnv1a64(address)}-${buildId}.sock`;
}

/** The cold lock's file: the socket's name with `.lock` (the launcher computes it the same way). */
export function coldLockPath(address: string, dir = warmDir(), buildId = BUILD_ID): string {
  return warmSocketPath(address, dir, buildId).replace(/\.sock$/, '.lock');
}

export const COLD_LOCK_FD_ENV = 'TSSHIM_COLD_LOCK_FD';

/** The cold lock handed to this process, taken out of the environment (not for our children). */
export function takeColdLock(env: NodeJS.ProcessEnv = process.env): ColdLock {
  const fd = Number.parseInt(env[COLD_LOCK_FD_ENV] ?? '', 10);
  Reflect.deleteProperty(env, COLD_LOCK_FD_ENV);
  return new ColdLock(Number.isInteger(fd) && fd > 2 ? fd : undefined);
}

/**
 * The cold lock: held while a Node process started for one request brings up the warm process,
 * so that other launchers wait for that one instead of each starting Node (native/launcher). The
 * launcher hands it to that process, which hands it to the warm process it starts; the warm
 * process lets go once it listens. Whoever holds it last closes it, on every path. The lock only
 * saves Node start-ups: the warm process removes its file when it leaves, and two launchers that
 * both start Node because of it just start one warm process too many (the second leaves at once).
 */
export class ColdLock {
  #fd: number | undefined;

  constructor(fd: number | undefined) {
    this.#fd = fd;
  }

  /** The fd, to pass on to a child (which then holds the lock too). */
  get fd(): number | undefined {
    return this.#fd;
  }

  release(): void {
    if (this.#fd === undefined) return;
    try {
      native.closeFd(this.#fd);
    } catch {
      // already closed
    }
    this.#fd = undefined;
  }
}

// Where the warm process of this build for one containerd listens. The launcher computes the same
// path (native/launcher/launcher.c): FNV-1a 64 of containerd's address, then the build id. The
// hash only routes; the warm process checks the address of every request itself.
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

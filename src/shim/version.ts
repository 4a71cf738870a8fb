// Name, version and revision of this build (revision recorded by the build script).
import { readFileSync } from 'node:fs';

export const RUNTIME_NAME = 'io.containerd.tsshim.v2';

const root = new URL('../../../', import.meta.url);

function read(path: string, fallback: string): string {
  try {
    return readFileSync(new URL(path, root), 'utf8').trim();
  } catch {
    return fallback;
  }
}

export const VERSION =
  (JSON.parse(read('package.json', '{}')) as { version?: string }).version ?? 'unknown';
export const REVISION = read('build/revision', 'unknown');
/** Identifies this exact build (hash of its code, written by the build): warm processes and the
 * launcher only ever pair with the same build. */
export const BUILD_ID = read('build/build-id', 'unknown');
